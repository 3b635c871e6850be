-- SQLite's functions that the tests' own queries use, made on each test
-- database of the suite's PostgreSQL (tests/lib.sh, tests/unit/testdb.h),
-- so a query is written once for both engines. Not drudge's schema.
CREATE AGGREGATE group_concat(text) (SFUNC = textcat, STYPE = text);
CREATE FUNCTION group_concat_sep(a text, b text) RETURNS text LANGUAGE sql IMMUTABLE
  AS $$ SELECT CASE WHEN a IS NULL THEN b WHEN b IS NULL THEN a ELSE a || ',' || b END $$;
DROP AGGREGATE group_concat(text);
CREATE AGGREGATE group_concat(text) (SFUNC = group_concat_sep, STYPE = text);
CREATE FUNCTION group_concat_sep2(a text, b text, sep text) RETURNS text LANGUAGE sql IMMUTABLE
  AS $$ SELECT CASE WHEN a IS NULL THEN b WHEN b IS NULL THEN a ELSE a || sep || b END $$;
CREATE AGGREGATE group_concat(text, text) (SFUNC = group_concat_sep2, STYPE = text);
CREATE FUNCTION ifnull(anyelement, anyelement) RETURNS anyelement LANGUAGE sql IMMUTABLE
  AS $$ SELECT coalesce($1, $2) $$;
CREATE FUNCTION instr(text, text) RETURNS integer LANGUAGE sql IMMUTABLE
  AS $$ SELECT strpos($1, $2) $$;
