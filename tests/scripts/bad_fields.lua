return {
  name = 42,
  manual_minutes = -1,
  max_attempt = 5,
  max_attempts = 2.5,
  timeout = "soon",
  run = "not a function",
}
