# Sourced by the shell tests. listening_port LOG: the port a `warden serve` logged in LOG (its
# "listening" line), waiting up to 10 s for it; prints nothing if it never appeared.
listening_port() {
  for _ in $(seq 1 100); do
    _port=$(sed -n 's/.*"event":"listening".*"port":\([0-9]*\).*/\1/p' "$1" 2>/dev/null | head -1)
    [ -n "$_port" ] && { echo "$_port"; return; }
    sleep 0.1
  done
}
