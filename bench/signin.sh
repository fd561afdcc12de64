# Sourced by the benchmarks: signs in to a vnetd as the first administrator, like a browser.
# sign_in BASE_URL DATA_DIR  prints the Cookie header value (CSRF and session cookies).
sign_in() {
  local base=$1 data=$2 jar token password session
  jar=$(mktemp)
  password=$(cat "$data/initial-admin-password")
  token=$(curl -fs -c "$jar" "$base/login" | grep -o 'name="csrf_token" value="[0-9a-f]*"' | grep -o '[0-9a-f]\{64\}')
  curl -fs -o /dev/null -b "$jar" -c "$jar" --data-urlencode "csrf_token=$token" --data-urlencode "name=admin" \
    --data-urlencode "password=$password" "$base/login"
  session=$(awk '$6 == "vnetd_session" {print $7}' "$jar")
  rm -f "$jar"
  [ -n "$session" ] || { echo "could not sign in to $base" >&2; return 1; }
  echo "vnetd_csrf=$token; vnetd_session=$session"
}
