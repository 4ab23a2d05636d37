#!/usr/bin/env bash
# Self-test of the Keyward test IdP (bash + curl + node only).
#   bash testing/idp/selftest.sh          -> prints "N passed, 0 failed"; exit code 0 only if all passed
# Starts the server in both layouts on random ports, drives logins with curl exactly like the Rust
# harness should (see README.md), and checks tokens, admin APIs, key rotation and logout.
set -uo pipefail

DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TMP=$(mktemp -d)
PASS=0
FAIL=0
PIDS=()
VERBOSE=${VERBOSE:-0}

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

if [ ! -d "$DIR/node_modules/oidc-provider" ]; then
  (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error) >&2 || { echo "npm ci failed"; echo "0 passed, 1 failed"; exit 1; }
fi

ok() { PASS=$((PASS + 1)); echo "ok   - $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $1${2:+ ($2)}"; }
# check DESC CMD...   (CMD's stdout is shown on failure)
# (runs CMD in the current shell, so CMD may set variables)
check() {
  local desc=$1; shift
  if "$@" >"$TMP/check.out" 2>&1; then ok "$desc"; else bad "$desc" "$(tail -3 "$TMP/check.out" | tr '\n' ' ')"; fi
}
eq() { [ "$1" == "$2" ] || { echo "expected [$2] got [$1]"; return 1; }; }
not() { ! "$@"; }

# js CODE [ARGS...] : run an ES module snippet with cwd=$DIR (so `import 'jose'` works); args in process.argv[1..]
js() { local code=$1; shift; (cd "$DIR" && node --input-type=module -e "$code" -- "$@"); }

# ---- server management ---------------------------------------------------------------------------
# start_idp NAME [ENV=VAL...]  -> sets BASE ISSUER PORT, pid pushed to PIDS
start_idp() {
  local name=$1; shift
  local out="$TMP/$name.out" err="$TMP/$name.err"
  env IDP_PORT=0 "$@" node "$DIR/server.mjs" >"$out" 2>"$err" &
  local pid=$!
  PIDS+=("$pid")
  local t0; t0=$(date +%s%N)
  for _ in $(seq 1 200); do
    [ -s "$out" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.025
  done
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  if [ "$(wc -l <"$out")" != "1" ]; then
    bad "$name: server printed one ready line" "$(cat "$out" "$err" | tail -5 | tr '\n' ' ')"
    return 1
  fi
  READY=$(cat "$out")
  read -r PORT ISSUER BASE < <(js 'const r=JSON.parse(process.argv[1]); if(r.ready!==true) process.exit(1); console.log(r.port, r.issuer, r.base)' "$READY")
  CUR_PID=$pid
  CUR_ERR=$err
  echo "# $name ready in ${ms}ms: $READY"
  ok "$name: ready line $READY"
}

stop_idp() { kill "$CUR_PID" 2>/dev/null; wait "$CUR_PID" 2>/dev/null; }

# ---- HTTP helpers ------------------------------------------------------------------------------------
# req JAR METHOD URL [curl args...] -> sets CODE LOC (absolute redirect url) and body in $TMP/body
req() {
  local jar=$1 method=$2 url=$3; shift 3
  local w
  w=$(curl -s -X "$method" -b "$jar" -c "$jar" -o "$TMP/body" -D "$TMP/headers" -w '%{http_code} %{redirect_url}' "$@" "$url")
  CODE=${w%% *}
  LOC=${w#* }
  [ "$VERBOSE" = 1 ] && echo "#   $method $url -> $CODE $LOC" >&2
  return 0
}

pkce() { # -> VERIFIER CHALLENGE
  read -r VERIFIER CHALLENGE < <(js '
    import { randomBytes, createHash } from "node:crypto";
    const v = randomBytes(32).toString("base64url");
    console.log(v, createHash("sha256").update(v).digest("base64url"));')
}

urlenc() { js 'console.log(encodeURIComponent(process.argv[1]))' "$1"; }
qparam() { js 'console.log(new URL(process.argv[1]).searchParams.get(process.argv[2]) ?? "")' "$1" "$2"; }
# jq-like: jsonget FILE_OR_STRING EXPR   (EXPR is JS with `j` bound to the parsed JSON)
jget() { js 'import fs from "node:fs"; const s=process.argv[1]; const j=JSON.parse(s.startsWith("{")||s.startsWith("[")||/^\d+$/.test(s)?s:fs.readFileSync(s,"utf8")); const v=eval(process.argv[2]); console.log(typeof v==="string"?v:JSON.stringify(v))' "$1" "$2"; }
jwt_payload() { js 'console.log(Buffer.from(process.argv[1].split(".")[1],"base64url").toString())' "$1"; }
jwt_header() { js 'console.log(Buffer.from(process.argv[1].split(".")[0],"base64url").toString())' "$1"; }

REDIRECT_URI=http://127.0.0.1:8080/auth/callback
CLIENT=keyward
SECRET=keyward-secret

# login_start JAR [extra query]  -> GET authorize; sets CODE LOC, STATE NONCE VERIFIER
login_start() {
  local jar=$1 extra=${2:-}
  pkce
  STATE=st-$RANDOM$RANDOM
  NONCE=n-$RANDOM$RANDOM
  req "$jar" GET "$AUTH_EP?response_type=code&client_id=$CLIENT&redirect_uri=$(urlenc "$REDIRECT_URI")&scope=openid%20email%20profile&state=$STATE&nonce=$NONCE&code_challenge=$CHALLENGE&code_challenge_method=S256$extra"
}

# login JAR USER PASS -> full recipe; sets AUTH_CODE (or returns 1); INTERACTION_URL
login() {
  local jar=$1 user=$2 pass=$3
  login_start "$jar"
  [ "$CODE" = 303 ] || { echo "authorize: $CODE"; return 1; }
  INTERACTION_URL=$LOC
  case "$LOC" in "$BASE"*/interaction/*) ;; *) echo "authorize did not redirect to interaction: $LOC"; return 1;; esac
  req "$jar" GET "$INTERACTION_URL"
  [ "$CODE" = 200 ] || { echo "interaction GET: $CODE"; return 1; }
  grep -q '<input type="hidden" name="prompt" value="login"/>' "$TMP/body" || { echo "no hidden prompt=login"; return 1; }
  grep -q 'name="login"' "$TMP/body" && grep -q 'name="password"' "$TMP/body" || { echo "no login/password inputs"; return 1; }
  local action
  action=$(grep -o 'action="[^"]*"' "$TMP/body" | head -1 | sed 's/action="//; s/"$//')
  [ "$action" = "$INTERACTION_URL" ] || { echo "form action $action != $INTERACTION_URL"; return 1; }
  req "$jar" POST "$action" --data-urlencode prompt=login --data-urlencode "login=$user" --data-urlencode "password=$pass"
  [ "$CODE" = 303 ] || { echo "login POST: $CODE"; return 1; }
  if [ "$LOC" = "$INTERACTION_URL" ]; then echo "login rejected"; return 2; fi
  case "$LOC" in "${AUTH_EP%/}/"*) ;; *) echo "login did not redirect to resume: $LOC"; return 1;; esac
  req "$jar" GET "$LOC"
  [ "$CODE" = 303 ] || { echo "resume: $CODE"; return 1; }
  finish_callback
}

finish_callback() {
  case "$LOC" in "$REDIRECT_URI?"*) ;; *) echo "resume did not redirect to redirect_uri: $LOC"; return 1;; esac
  CALLBACK=$LOC
  AUTH_CODE=$(qparam "$LOC" code)
  [ -n "$AUTH_CODE" ] || { echo "no code in $LOC"; return 1; }
  [ "$(qparam "$LOC" state)" = "$STATE" ] || { echo "state mismatch"; return 1; }
  [ "$(qparam "$LOC" iss)" = "$ISSUER" ] || { echo "iss param mismatch: $(qparam "$LOC" iss)"; return 1; }
}

exchange_code() { # -> $TMP/tokens.json ; sets AT IDT RT
  curl -s -u "$CLIENT:$SECRET" "$TOKEN_EP" -d grant_type=authorization_code --data-urlencode "code=$AUTH_CODE" \
    --data-urlencode "redirect_uri=$REDIRECT_URI" --data-urlencode "code_verifier=$VERIFIER" >"$TMP/tokens.json"
  AT=$(jget "$TMP/tokens.json" 'j.access_token ?? ""')
  IDT=$(jget "$TMP/tokens.json" 'j.id_token ?? ""')
  RT=$(jget "$TMP/tokens.json" 'j.refresh_token ?? ""')
  [ -n "$AT" ] && [ -n "$IDT" ] && [ -n "$RT" ] || { cat "$TMP/tokens.json"; return 1; }
}

# verify_jwt TOKEN [expected_aud] -> checks signature against the live JWKS + iss (+aud); prints payload
verify_jwt() {
  js '
    import { createRemoteJWKSet, jwtVerify } from "jose";
    const [tok, jwks, iss, aud] = process.argv.slice(1);
    const { payload, protectedHeader } = await jwtVerify(tok, createRemoteJWKSet(new URL(jwks)), { issuer: iss, audience: aud || undefined, algorithms: ["RS256"] });
    console.log(JSON.stringify({ ...payload, _kid: protectedHeader.kid, _typ: protectedHeader.typ }));
  ' "$1" "$JWKS_EP" "$ISSUER" "${2:-}"
}

discover() { # sets AUTH_EP TOKEN_EP JWKS_EP USERINFO_EP END_EP INTROSPECT_EP
  curl -sf "$DISCOVERY" >"$TMP/disc.json" || return 1
  AUTH_EP=$(jget "$TMP/disc.json" j.authorization_endpoint)
  TOKEN_EP=$(jget "$TMP/disc.json" j.token_endpoint)
  JWKS_EP=$(jget "$TMP/disc.json" j.jwks_uri)
  USERINFO_EP=$(jget "$TMP/disc.json" j.userinfo_endpoint)
  END_EP=$(jget "$TMP/disc.json" j.end_session_endpoint)
  INTROSPECT_EP=$(jget "$TMP/disc.json" j.introspection_endpoint)
  [ "$(jget "$TMP/disc.json" j.issuer)" = "$ISSUER" ]
}

# ======================================================================================================
common_oidc_tests() { # LAYOUT
  local L=$1
  local J="$TMP/$L-alice.jar"
  rm -f "$J"

  check "$L: full code+PKCE login for alice" login "$J" alice alice-pw
  check "$L: code exchange (client_secret_basic) returns id/access/refresh tokens" exchange_code

  local idp atp
  idp=$(verify_jwt "$IDT" "$CLIENT")
  check "$L: id_token signature/iss/aud valid" test -n "$idp"
  check "$L: id_token sub is alice's UUID" eq "$(jget "$idp" j.sub)" 6f1c1b2e-4a0d-4c55-9a8e-1f0b7a1d2c01
  check "$L: id_token user claims" eq "$(jget "$idp" '[j.email,j.email_verified,j.name,j.given_name,j.family_name,j.preferred_username,j.picture,j.groups.join(",")].join("|")')" \
    "alice@example.com|true|Alice Admin|Alice|Admin|alice|http://127.0.0.1:8080/static/avatars/alice.png|admins,users"
  check "$L: id_token nonce echoed" eq "$(jget "$idp" j.nonce)" "$NONCE"
  check "$L: access token is an RS256 JWT (at+jwt)" eq "$(jget "$(jwt_header "$AT")" '[j.alg, j.typ, !!j.kid].join(",")')" "RS256,at+jwt,true"
  atp=$(verify_jwt "$AT" "$CLIENT")
  check "$L: access token signature/iss valid and aud = client id" eq "$(jget "$atp" j.aud)" "$CLIENT"
  check "$L: access token carries user claims" eq "$(jget "$atp" '[j.sub,j.email,j.email_verified,j.preferred_username,j.name,j.groups.join(","),j.azp,j.client_id,j.scope.split(" ").sort().join(" ")].join("|")')" \
    "6f1c1b2e-4a0d-4c55-9a8e-1f0b7a1d2c01|alice@example.com|true|alice|Alice Admin|admins,users|keyward|keyward|email openid profile"
  if [ "$L" = keycloak ]; then
    check "$L: realm_access.roles in id_token and access token" eq "$(jget "$idp" 'j.realm_access.roles.join(",")')/$(jget "$atp" 'j.realm_access.roles.join(",")')" "admin,user/admin,user"
  else
    check "$L: no realm_access in authentik layout" eq "$(jget "$idp" 'String(j.realm_access)')" "undefined"
  fi
  ALICE_AT=$AT; ALICE_IDT=$IDT; ALICE_RT=$RT

  req "$J" GET "$USERINFO_EP" -H "Authorization: Bearer $AT"
  check "$L: userinfo with JWT access token" eq "$CODE $(jget "$TMP/body" '[j.sub,j.email,j.preferred_username].join(",")')" "200 6f1c1b2e-4a0d-4c55-9a8e-1f0b7a1d2c01,alice@example.com,alice"
  req "$J" GET "$USERINFO_EP" -H "Authorization: Bearer nope"
  check "$L: userinfo rejects a bad token with 401" eq "$CODE" 401

  # code replay
  curl -s -u "$CLIENT:$SECRET" "$TOKEN_EP" -d grant_type=authorization_code --data-urlencode "code=$AUTH_CODE" \
    --data-urlencode "redirect_uri=$REDIRECT_URI" --data-urlencode "code_verifier=$VERIFIER" >"$TMP/replay.json"
  check "$L: code replay -> invalid_grant" eq "$(jget "$TMP/replay.json" j.error)" invalid_grant

  # refresh with client_secret_post (fresh login, replay revoked the first grant)
  rm -f "$J"
  login "$J" alice alice-pw >/dev/null && exchange_code >/dev/null
  ALICE_AT=$AT; ALICE_IDT=$IDT; ALICE_RT=$RT
  curl -s "$TOKEN_EP" -d grant_type=refresh_token --data-urlencode "refresh_token=$RT" -d "client_id=$CLIENT" -d "client_secret=$SECRET" >"$TMP/refresh.json"
  local rat; rat=$(jget "$TMP/refresh.json" 'j.access_token ?? ""')
  check "$L: refresh_token grant (client_secret_post) returns a new JWT access token" eq "$(jget "$(verify_jwt "$rat" "$CLIENT")" j.sub)" 6f1c1b2e-4a0d-4c55-9a8e-1f0b7a1d2c01
  check "$L: refresh response has id_token and refresh_token" eq "$(jget "$TMP/refresh.json" '[!!j.id_token, !!j.refresh_token, j.token_type].join(",")')" "true,true,Bearer"

  # SSO: second authorize with the same jar goes straight to the callback
  login_start "$J"
  check "$L: SSO - second authorize skips the form" finish_callback

  # introspection
  curl -s -u "$CLIENT:$SECRET" "$INTROSPECT_EP" --data-urlencode "token=$ALICE_RT" >"$TMP/intro.json"
  check "$L: introspection of refresh token active" eq "$(jget "$TMP/intro.json" j.active)" true

  # wrong password, unknown user, disabled user, service account -> 303 back to the form; then bob works
  local JB="$TMP/$L-bob.jar"; rm -f "$JB"
  login_start "$JB"; local iurl=$LOC
  req "$JB" GET "$iurl"
  local u p
  for up in "bob:wrong" "nobody:x" "disabled:disabled-pw" "ak-outpost-service:" ; do
    u=${up%%:*}; p=${up#*:}
    req "$JB" POST "$iurl" --data-urlencode prompt=login --data-urlencode "login=$u" --data-urlencode "password=$p"
    check "$L: login $u/${p:-<empty>} rejected with 303 back to the same interaction" eq "$CODE $LOC" "303 $iurl"
    req "$JB" GET "$iurl"
    check "$L: form shown again with an error after $u" eq "$CODE $(grep -c 'id="login-error"' "$TMP/body")" "200 1"
  done
  req "$JB" POST "$iurl" --data-urlencode prompt=login --data-urlencode login=BOB --data-urlencode password=bob-pw
  req "$JB" GET "$LOC"
  check "$L: bob logs in after failures (username case-insensitive)" finish_callback
  exchange_code >/dev/null
  check "$L: bob's id_token has email_verified=false" eq "$(jget "$(jwt_payload "$IDT")" '[j.email, j.email_verified].join(",")')" "bob@example.com,false"

  # unicode + no-email users
  local JZ="$TMP/$L-zoe.jar"; rm -f "$JZ"
  login "$JZ" zoe zoe-pw >/dev/null && exchange_code >/dev/null
  check "$L: unicode names survive in id_token" eq "$(jget "$(jwt_payload "$IDT")" '[j.name,j.given_name,j.family_name].join("|")')" "Zoë Ångström-Łukasiewicz|Zoë|Ångström-Łukasiewicz"
  local JN="$TMP/$L-noemail.jar"; rm -f "$JN"
  login "$JN" noemail noemail-pw >/dev/null && exchange_code >/dev/null
  check "$L: user without email has no email claim" eq "$(jget "$(jwt_payload "$IDT")" '[String(j.email), j.email_verified, j.preferred_username].join(",")')" "undefined,false,noemail"

  # cancel
  local JC="$TMP/$L-cancel.jar"; rm -f "$JC"
  login_start "$JC"; iurl=$LOC
  req "$JC" GET "$iurl/abort"
  req "$JC" GET "$LOC"
  check "$L: cancel link -> redirect_uri?error=access_denied&state" eq "$CODE $(qparam "$LOC" error) $(qparam "$LOC" state)" "303 access_denied $STATE"

  # PKCE required
  req "$JC" GET "$AUTH_EP?response_type=code&client_id=$CLIENT&redirect_uri=$(urlenc "$REDIRECT_URI")&scope=openid&state=x"
  check "$L: authorize without PKCE -> error=invalid_request" eq "$(qparam "$LOC" error)" invalid_request

  # control: edit a user -> visible after refresh; disabled user's session must log in again
  curl -s -X PATCH "$BASE/__control/users/6f1c1b2e-4a0d-4c55-9a8e-1f0b7a1d2c01" -H 'content-type: application/json' \
    -d '{"name":"Alice Renamed","picture":null}' >"$TMP/patch.json"
  curl -s "$TOKEN_EP" -u "$CLIENT:$SECRET" -d grant_type=refresh_token --data-urlencode "refresh_token=$ALICE_RT" >"$TMP/refresh2.json"
  check "$L: PATCH /__control/users changes claims of refreshed tokens" eq "$(jget "$(jwt_payload "$(jget "$TMP/refresh2.json" j.access_token)")" '[j.name, String(j.picture)].join(",")')" "Alice Renamed,undefined"
  curl -s -X PATCH "$BASE/__control/users/6f1c1b2e-4a0d-4c55-9a8e-1f0b7a1d2c01" -H 'content-type: application/json' \
    -d '{"name":"Alice Admin","picture":"http://127.0.0.1:8080/static/avatars/alice.png"}' >/dev/null
  curl -s -X PATCH "$BASE/__control/users/2b7d9e44-8c1f-4e3a-b6d2-5a9c0e7f3b02" -H 'content-type: application/json' -d '{"enabled":false}' >/dev/null
  login_start "$JB"
  check "$L: session of a user disabled afterwards -> login form again (no 500)" eq "$CODE $(echo "$LOC" | grep -c /interaction/)" "303 1"
  curl -s "$TOKEN_EP" -u "$CLIENT:$SECRET" -d grant_type=refresh_token --data-urlencode "refresh_token=$RT" >"$TMP/refresh3.json"
  curl -s -X PATCH "$BASE/__control/users/2b7d9e44-8c1f-4e3a-b6d2-5a9c0e7f3b02" -H 'content-type: application/json' -d '{"enabled":true}' >/dev/null

  # new user through the control API can log in
  curl -s -X POST "$BASE/__control/users" -H 'content-type: application/json' -d '{"sub":"11111111-2222-4333-8444-555555555555","username":"carol","password":"carol-pw","email":"carol@example.com","email_verified":true,"given_name":"Carol","family_name":"Neu","groups":["users"],"roles":["user"],"enabled":true}' >"$TMP/carol.json"
  local JK="$TMP/$L-carol.jar"; rm -f "$JK"
  check "$L: user added via POST /__control/users can log in" login "$JK" carol carol-pw
  exchange_code >/dev/null
  check "$L: carol's name composed from given/family" eq "$(jget "$(jwt_payload "$IDT")" j.name)" "Carol Neu"
  curl -s -o /dev/null -w '%{http_code}' -X DELETE "$BASE/__control/users/11111111-2222-4333-8444-555555555555" >"$TMP/del.txt"
  check "$L: DELETE /__control/users/{sub}" eq "$(cat "$TMP/del.txt")" 200

  # client_credentials
  curl -s -u "$CLIENT:$SECRET" "$TOKEN_EP" -d grant_type=client_credentials >"$TMP/cc.json"
  CC_AT=$(jget "$TMP/cc.json" 'j.access_token ?? ""')
  check "$L: client_credentials token is a JWT with aud=client id" eq "$(jget "$(verify_jwt "$CC_AT" "$CLIENT")" '[j.aud, j.sub, j.client_id].join(",")')" "keyward,keyward,keyward"
  curl -s -u "$CLIENT:wrong" "$TOKEN_EP" -d grant_type=client_credentials >"$TMP/cc-bad.json"
  check "$L: client_credentials with a wrong secret -> invalid_client" eq "$(jget "$TMP/cc-bad.json" j.error)" invalid_client
}

rotation_and_logout_tests() {
  local L=$1
  local old_kid; old_kid=$(jget "$(jwt_header "$ALICE_AT")" j.kid)
  local old_at=$ALICE_AT
  curl -s -X POST "$BASE/__control/rotate-keys" -H 'content-type: application/json' -d '{}' >"$TMP/rot.json"
  local new_kid; new_kid=$(jget "$TMP/rot.json" j.active_kid)
  check "$L: rotate-keys returns a new kid" test -n "$new_kid" -a "$new_kid" != "$old_kid"
  curl -s "$JWKS_EP" >"$TMP/jwks.json"
  check "$L: after rotation JWKS has only the new key" eq "$(jget "$TMP/jwks.json" 'j.keys.map(k=>k.kid).join(",")')" "$new_kid"
  check "$L: old access token no longer verifies" not verify_jwt_neg "$old_at"
  local J="$TMP/$L-rot.jar"; rm -f "$J"
  check "$L: login after rotation" login "$J" alice alice-pw
  exchange_code >/dev/null
  check "$L: new id_token and access token use the new kid" eq "$(jget "$(jwt_header "$IDT")" j.kid),$(jget "$(jwt_header "$AT")" j.kid)" "$new_kid,$new_kid"
  check "$L: new tokens verify against the JWKS" test -n "$(verify_jwt "$AT" "$CLIENT")"
  curl -s "$TOKEN_EP" -u "$CLIENT:$SECRET" -d grant_type=refresh_token --data-urlencode "refresh_token=$RT" >"$TMP/rr.json"
  check "$L: refresh after rotation uses new kid" eq "$(jget "$(jwt_header "$(jget "$TMP/rr.json" j.access_token)")" j.kid)" "$new_kid"
  curl -s -X POST "$BASE/__control/rotate-keys" -H 'content-type: application/json' -d '{"keep_old":true}' >"$TMP/rot2.json"
  local kid3; kid3=$(jget "$TMP/rot2.json" j.active_kid)
  curl -s "$JWKS_EP" >"$TMP/jwks.json"
  check "$L: keep_old rotation publishes new+old keys" eq "$(jget "$TMP/jwks.json" 'j.keys.map(k=>k.kid).join(",")')" "$kid3,$new_kid"
  check "$L: token signed by the kept old key still verifies" test -n "$(verify_jwt "$AT" "$CLIENT")"
  # fresh tokens for logout
  curl -s "$TOKEN_EP" -u "$CLIENT:$SECRET" -d grant_type=refresh_token --data-urlencode "refresh_token=$RT" >"$TMP/rr2.json"
  check "$L: tokens after keep_old rotation use the newest kid" eq "$(jget "$(jwt_header "$(jget "$TMP/rr2.json" j.id_token)")" j.kid)" "$kid3"
  IDT=$(jget "$TMP/rr2.json" j.id_token)

  # RP-initiated logout with id_token_hint + post_logout_redirect_uri
  local PLR=http://127.0.0.1:8080/
  req "$J" GET "$END_EP?id_token_hint=$IDT&post_logout_redirect_uri=$(urlenc "$PLR")&state=bye"
  check "$L: end-session with id_token_hint -> 303 to post_logout_redirect_uri?state=bye" eq "$CODE $LOC" "303 ${PLR}?state=bye"
  curl -s "$TOKEN_EP" -u "$CLIENT:$SECRET" -d grant_type=refresh_token --data-urlencode "refresh_token=$RT" >"$TMP/rr3.json"
  check "$L: refresh token revoked by logout" eq "$(jget "$TMP/rr3.json" j.error)" invalid_grant
  login_start "$J"
  check "$L: after logout authorize shows the login form again" eq "$CODE $(echo "$LOC" | grep -c /interaction/)" "303 1"
  # logout without id_token_hint: confirmation form (xsrf) -> POST confirm
  local J2="$TMP/$L-rot2.jar"; rm -f "$J2"
  login "$J2" alice alice-pw >/dev/null
  req "$J2" GET "$END_EP?client_id=$CLIENT&post_logout_redirect_uri=$(urlenc "$PLR")&state=s2"
  local xsrf action
  xsrf=$(grep -o 'name="xsrf" value="[^"]*"' "$TMP/body" | sed 's/.*value="//; s/"$//')
  action=$(grep -o 'id="op.logoutForm" method="post" action="[^"]*"' "$TMP/body" | sed 's/.*action="//; s/"$//')
  check "$L: end-session without hint renders a confirmation form" test "$CODE" = 200 -a -n "$xsrf" -a -n "$action"
  req "$J2" POST "$action" --data-urlencode "xsrf=$xsrf" -d logout=yes
  check "$L: confirm logout -> 303 post_logout_redirect_uri?state=s2" eq "$CODE $LOC" "303 ${PLR}?state=s2"
}

# exit 0 if the token verifies
verify_jwt_neg() { verify_jwt "$1" "$CLIENT" >/dev/null 2>&1; }

# ======================================================================================================
echo "# keycloak layout"
if start_idp keycloak IDP_LAYOUT=keycloak IDP_GENERATED_USERS=1000; then
  DISCOVERY="$ISSUER/.well-known/openid-configuration"
  check "keycloak: discovery issuer = $ISSUER" discover
  check "keycloak: endpoints follow Keycloak paths" eq "$AUTH_EP $TOKEN_EP $USERINFO_EP $JWKS_EP $END_EP" \
    "$ISSUER/protocol/openid-connect/auth $ISSUER/protocol/openid-connect/token $ISSUER/protocol/openid-connect/userinfo $ISSUER/protocol/openid-connect/certs $ISSUER/protocol/openid-connect/logout"
  check "keycloak: issuer is $BASE/realms/keyward" eq "$ISSUER" "$BASE/realms/keyward"
  common_oidc_tests keycloak

  # ---- Keycloak admin API ----
  ADM="$BASE/admin/realms/keyward"
  check "keycloak admin: no token -> 401" eq "$(curl -s -o /dev/null -w '%{http_code}' "$ADM/users")" 401
  check "keycloak admin: garbage token -> 401" eq "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer x.y.z' "$ADM/users")" 401
  curl -s -u "$CLIENT:$SECRET" "$TOKEN_EP" -d grant_type=client_credentials >"$TMP/cc.json"
  CC_AT=$(jget "$TMP/cc.json" j.access_token)
  H="Authorization: Bearer $CC_AT"
  check "keycloak admin: users/count = 5 fixture (+service account hidden) + 1000 generated" eq "$(curl -s -H "$H" "$ADM/users/count")" 1005
  curl -s -H "$H" "$ADM/users?first=0&max=3&briefRepresentation=false" >"$TMP/kc1.json"
  check "keycloak admin: first page shape" eq "$(jget "$TMP/kc1.json" 'j.map(u=>u.username).join(",")+"|"+Object.keys(j[0]).slice(0,8).join(",")+"|"+j[0].attributes.picture[0]+"|"+typeof j[0].createdTimestamp')" \
    "alice,bob,zoe|id,username,firstName,lastName,email,emailVerified,createdTimestamp,enabled|http://127.0.0.1:8080/static/avatars/alice.png|number"
  curl -s -H "$H" "$ADM/users?first=3&max=1" >"$TMP/kc2.json"
  check "keycloak admin: user without email has no email field" eq "$(jget "$TMP/kc2.json" '[j[0].username, "email" in j[0], j[0].emailVerified].join(",")')" "noemail,false,false"
  check "keycloak admin: default max is 100" eq "$(jget "$(curl -s -H "$H" "$ADM/users")" j.length)" 100
  check "keycloak admin: GET users/{id}" eq "$(jget "$(curl -s -H "$H" "$ADM/users/9a4e6c1d-3f2b-4d8e-a7c5-0b1d2e3f4a03")" '[j.username,j.firstName,j.lastName].join("|")')" "zoe|Zoë|Ångström-Łukasiewicz"
  check "keycloak admin: unknown user -> 404" eq "$(curl -s -o /dev/null -w '%{http_code}' -H "$H" "$ADM/users/00000000-0000-4000-8000-999999999999")" 404
  # full pagination with max=100 (page size not dividing the total)
  js '
    const [adm, tok] = process.argv.slice(1);
    const seen = new Set(); let first = 0, pages = 0;
    for (;;) {
      const r = await fetch(`${adm}/users?first=${first}&max=100&briefRepresentation=true`, { headers: { authorization: `Bearer ${tok}` } });
      const page = await r.json(); pages++;
      for (const u of page) seen.add(u.id);
      if (page.length < 100) break;
      first += 100;
    }
    console.log(seen.size, pages, seen.has("00000000-0000-4000-8000-000000001000"));
  ' "$ADM" "$CC_AT" >"$TMP/pag.txt"
  check "keycloak admin: paging first/max=100 yields 1005 unique users in 11 pages" eq "$(cat "$TMP/pag.txt")" "1005 11 true"
  check "keycloak admin: search" eq "$(jget "$(curl -s -H "$H" "$ADM/users?search=user00099")" 'j.map(u=>u.username).join(",")')" "user000990,user000991,user000992,user000993,user000994,user000995,user000996,user000997,user000998,user000999"
  # groups, their members, a realm role's users
  check "keycloak admin: group-by-path" eq "$(jget "$(curl -s -H "$H" "$ADM/group-by-path/admins")" '[j.name,j.path].join(",")')" "admins,/admins"
  check "keycloak admin: unknown group path -> 404" eq "$(curl -s -o /dev/null -w '%{http_code}' -H "$H" "$ADM/group-by-path/nope")" 404
  GID=$(jget "$(curl -s -H "$H" "$ADM/groups?search=admins&exact=true")" 'j.map(g=>g.id).join(",")')
  check "keycloak admin: group members" eq "$(jget "$(curl -s -H "$H" "$ADM/groups/$GID/members?first=0&max=10")" 'j.map(u=>u.username).join(",")')" "alice"
  check "keycloak admin: members paged" eq "$(jget "$(curl -s -H "$H" "$ADM/groups/$(jget "$(curl -s -H "$H" "$ADM/group-by-path/users")" j.id)/members?first=1000&max=10")" j.length)" 5
  check "keycloak admin: realm-role users" eq "$(jget "$(curl -s -H "$H" "$ADM/roles/admin/users")" 'j.map(u=>u.username).join(",")')" "alice"
  curl -s -X PATCH "$BASE/__control/users/2b7d9e44-8c1f-4e3a-b6d2-5a9c0e7f3b02" -H 'content-type: application/json' -d '{"groups":["users","admins"]}' >/dev/null
  check "keycloak admin: a group change shows in its members" eq "$(jget "$(curl -s -H "$H" "$ADM/groups/$GID/members")" 'j.map(u=>u.username).join(",")')" "alice,bob"
  curl -s -X POST "$BASE/__control/faults" -H 'content-type: application/json' -d '{"fail_memberships":1,"status":503}' >/dev/null
  c1=$(curl -s -o /dev/null -w '%{http_code}' -H "$H" "$ADM/groups/$GID/members")
  c2=$(curl -s -o /dev/null -w '%{http_code}' -H "$H" "$ADM/groups/$GID/members")
  check "keycloak admin: fail_memberships fails the next membership read" eq "$c1 $c2" "503 200"
  # faults
  curl -s -X POST "$BASE/__control/faults" -H 'content-type: application/json' -d '{"fail_page":2,"fail_count":2,"status":503}' >/dev/null
  c1=$(curl -s -o /dev/null -w '%{http_code}' -H "$H" "$ADM/users?first=200&max=100")
  c2=$(curl -s -o /dev/null -w '%{http_code}' -H "$H" "$ADM/users?first=200&max=100")
  c3=$(curl -s -o /dev/null -w '%{http_code}' -H "$H" "$ADM/users?first=200&max=100")
  c0=$(curl -s -o /dev/null -w '%{http_code}' -H "$H" "$ADM/users?first=100&max=100")
  check "keycloak admin: fault on page 2 for 2 requests, then recovers" eq "$c1 $c2 $c3 $c0" "503 503 200 200"
  curl -s -X POST "$BASE/__control/faults" -H 'content-type: application/json' -d '{"slow_ms":150}' >/dev/null
  t=$(curl -s -o /dev/null -w '%{time_total}' -H "$H" "$ADM/users?first=0&max=10")
  check "keycloak admin: slow_ms delays pages (${t}s)" js 'process.exit(Number(process.argv[1]) >= 0.15 ? 0 : 1)' "$t"
  curl -s -X POST "$BASE/__control/faults" -H 'content-type: application/json' -d '{"slow_ms":null,"admin_token_ttl_s":2}' >/dev/null
  curl -s -u "$CLIENT:$SECRET" "$TOKEN_EP" -d grant_type=client_credentials >"$TMP/cc2.json"
  SHORT=$(jget "$TMP/cc2.json" j.access_token)
  c1=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $SHORT" "$ADM/users?max=1")
  check "keycloak admin: admin_token_ttl_s=2 -> expires_in 2" eq "$(jget "$TMP/cc2.json" j.expires_in)" 2
  sleep 3.1
  c2=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $SHORT" "$ADM/users?max=1")
  check "keycloak admin: short-lived token works, then 401 after expiry" eq "$c1 $c2" "200 401"
  curl -s -X DELETE "$BASE/__control/faults" >/dev/null
  check "keycloak admin: DELETE /__control/faults resets" eq "$(curl -s "$BASE/__control/faults")" "{}"
  curl -s "$BASE/__control/stats" >"$TMP/stats.json"
  check "keycloak: stats count admin/token/jwks requests" js '
    import fs from "node:fs"; const s = JSON.parse(fs.readFileSync(process.argv[1]));
    if (!(s.admin_requests > 10 && s.token_requests.total > 5 && s.jwks_fetches > 0 && s.admin_faults_injected === 3 && s.admin_membership_requests === 10 && s.admin_unauthorized >= 3)) { console.log(JSON.stringify(s)); process.exit(1); }' "$TMP/stats.json"
  check "keycloak: realm info endpoint" eq "$(jget "$(curl -s "$ISSUER")" 'j.realm + "," + (j.public_key.length > 100)')" "keyward,true"

  rotation_and_logout_tests keycloak
  check "keycloak: no server errors logged" not grep -qE 'server_error|unhandled' "$CUR_ERR"
  stop_idp
fi

# ======================================================================================================
echo "# authentik layout"
if start_idp authentik IDP_LAYOUT=authentik IDP_GENERATED_USERS=1000; then
  check "authentik: issuer is $BASE/application/o/keyward/ (trailing slash)" eq "$ISSUER" "$BASE/application/o/keyward/"
  DISCOVERY="${ISSUER}.well-known/openid-configuration"
  check "authentik: discovery at /application/o/keyward/.well-known/openid-configuration" discover
  check "authentik: discovery advertises authentik URLs" eq "$AUTH_EP $TOKEN_EP $USERINFO_EP $JWKS_EP $END_EP" \
    "$BASE/application/o/authorize/ $BASE/application/o/token/ $BASE/application/o/userinfo/ $BASE/application/o/keyward/jwks/ $BASE/application/o/keyward/end-session/"
  check "authentik: jwks endpoint serves keys" eq "$(jget "$(curl -s "$JWKS_EP")" 'j.keys[0].kty+","+j.keys[0].alg')" "RSA,RS256"
  common_oidc_tests authentik

  API="$BASE/api/v3/core/users/"
  check "authentik api: no token -> 403" eq "$(curl -s -o "$TMP/b" -w '%{http_code}' "$API")" 403
  check "authentik api: 403 body has detail" test -n "$(jget "$TMP/b" j.detail)"
  check "authentik api: wrong token -> 403" eq "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer nope' "$API")" 403
  H="Authorization: Bearer authentik-admin-token"
  curl -s -H "$H" "$API?page=1&page_size=10&ordering=pk&include_groups=false" >"$TMP/ak1.json"
  check "authentik api: pagination block of page 1" eq "$(jget "$TMP/ak1.json" 'JSON.stringify(j.pagination)')" \
    '{"next":2,"previous":0,"count":1006,"current":1,"total_pages":101,"start_index":1,"end_index":10}'
  check "authentik api: user object shape" eq "$(jget "$TMP/ak1.json" 'Object.keys(j.results[0]).sort().join(",")')" \
    "attributes,avatar,date_joined,email,groups,groups_obj,is_active,is_superuser,last_login,last_updated,name,password_change_date,path,pk,type,uid,username,uuid"
  check "authentik api: alice uid = OIDC sub, superuser, last_login set" eq "$(jget "$TMP/ak1.json" 'const a=j.results.find(u=>u.username==="alice"); [a.uid, a.is_superuser, !!a.last_login, a.groups_obj, typeof a.pk].join(",")')" \
    "6f1c1b2e-4a0d-4c55-9a8e-1f0b7a1d2c01,true,true,,number"
  check "authentik api: groups_obj listed unless include_groups=false" eq "$(curl -s -H "$H" "$API?page=1&page_size=10&ordering=pk" | node -e 'let d="";process.stdin.on("data",c=>d+=c).on("end",()=>{const a=JSON.parse(d).results.find(u=>u.username==="alice");console.log(a.groups_obj.map(g=>g.name).sort().join(","))})')" \
    "admins,users"
  check "authentik api: noemail has email \"\" and service account listed" eq "$(jget "$TMP/ak1.json" 'const n=j.results.find(u=>u.username==="noemail"), s=j.results.find(u=>u.type==="service_account"); JSON.stringify([n.email, s.username, s.is_active])')" \
    '["","ak-outpost-service",true]'
  check "authentik api: disabled user is_active=false" eq "$(jget "$TMP/ak1.json" 'j.results.find(u=>u.username==="disabled").is_active')" false
  curl -s -H "$H" "$API?page=101&page_size=10" >"$TMP/ak2.json"
  check "authentik api: last page" eq "$(jget "$TMP/ak2.json" 'JSON.stringify(j.pagination)+"|"+j.results.map(u=>u.username).join(",")')" \
    '{"next":0,"previous":100,"count":1006,"current":101,"total_pages":101,"start_index":1001,"end_index":1006}|user000995,user000996,user000997,user000998,user000999,user001000'
  check "authentik api: page past the end -> 404" eq "$(curl -s -o /dev/null -w '%{http_code}' -H "$H" "$API?page=102&page_size=10")" 404
  js '
    const [api] = process.argv.slice(1);
    const seen = new Set(); let page = 1, pages = 0, count;
    while (page) {
      const r = await fetch(`${api}?page=${page}&page_size=100&ordering=pk`, { headers: { authorization: "Bearer authentik-admin-token" } });
      const b = await r.json(); pages++; count = b.pagination.count;
      for (const u of b.results) seen.add(u.pk);
      page = b.pagination.next;
    }
    console.log(seen.size, count, pages);
  ' "$API" >"$TMP/akpag.txt"
  check "authentik api: following pagination.next visits all 1006 users in 11 pages" eq "$(cat "$TMP/akpag.txt")" "1006 1006 11"
  curl -s -X POST "$BASE/__control/faults" -H 'content-type: application/json' -d '{"fail_page":1,"fail_count":1}' >/dev/null
  c1=$(curl -s -o /dev/null -w '%{http_code}' -H "$H" "$API?page=2&page_size=100")
  c2=$(curl -s -o /dev/null -w '%{http_code}' -H "$H" "$API?page=2&page_size=100")
  check "authentik api: fail_page=1 (0-based) hits page=2 once with 500" eq "$c1 $c2" "500 200"
  curl -s -X DELETE "$BASE/__control/faults" >/dev/null
  curl -s -X DELETE "$BASE/__control/users/00000000-0000-4000-8000-000000000500" >/dev/null
  check "authentik api: deleting a generated user shrinks the count" eq "$(jget "$(curl -s -H "$H" "$API?page=1&page_size=1")" j.pagination.count)" 1005
  check "authentik api: single user by pk" eq "$(jget "$(curl -s -H "$H" "${API}1/")" j.username)" alice

  rotation_and_logout_tests authentik
  check "authentik: no server errors logged" not grep -qE 'server_error|unhandled' "$CUR_ERR"
  stop_idp
fi

# ======================================================================================================
echo "# realm file (deploy/keycloak/realm.json)"
REALM_FILE="$DIR/../../deploy/keycloak/realm.json"
REALM_ENV=(KEYWARD_OIDC_CLIENT_SECRET=realm-secret KEYWARD_PUBLIC_URL=http://127.0.0.1:8080 KEYWARD_INTERNAL_URL=http://127.0.0.1:9)
check "realm: a placeholder missing from the environment stops start-up naming it" \
  js 'import { execFileSync } from "node:child_process";
      try { execFileSync("node", ["server.mjs"], { env: { ...process.env, IDP_REALM_FILE: process.argv[1], IDP_PORT: "0" }, stdio: "pipe" }); process.exit(1); }
      catch (e) { process.exit(String(e.stderr).includes("KEYWARD_OIDC_CLIENT_SECRET is not set") ? 0 : 1); }' "$REALM_FILE"
check "realm: IDP_CLIENT_ID beside a realm file is refused" \
  js 'import { execFileSync } from "node:child_process";
      try { execFileSync("node", ["server.mjs"], { env: { ...process.env, IDP_REALM_FILE: process.argv[1], IDP_CLIENT_ID: "x", IDP_PORT: "0" }, stdio: "pipe" }); process.exit(1); }
      catch (e) { process.exit(String(e.stderr).includes("IDP_REALM_FILE gives IDP_CLIENT_ID") ? 0 : 1); }' "$REALM_FILE"
if start_idp realm IDP_REALM_FILE="$REALM_FILE" "${REALM_ENV[@]}"; then
  DISCOVERY="$ISSUER/.well-known/openid-configuration"
  check "realm: discovery issuer = $BASE/realms/keyward" discover
  SAVED_SECRET=$SECRET
  SECRET=realm-secret
  J="$TMP/realm-bob.jar"
  check "realm: bob logs in with the file's password at rootUrl + /auth/callback" login "$J" bob bob-pw
  check "realm: code exchange with the substituted secret" exchange_code
  check "realm: ID token groups from the group-membership mapper (names)" eq "$(jget "$(jwt_payload "$IDT")" 'j.groups.join(",")')" "auditors,users"
  check "realm: access token aud from the audience mapper" eq "$(jget "$(jwt_payload "$AT")" j.aud)" keyward
  CC_AT=$(jget "$(curl -s -u "$CLIENT:$SECRET" "$TOKEN_EP" -d grant_type=client_credentials)" j.access_token)
  check "realm: service account token names its realm-management roles" eq "$(jget "$(jwt_payload "$CC_AT")" 'j.resource_access["realm-management"].roles.join(",")')" "view-users,query-users,view-events"
  ADM="$BASE/admin/realms/keyward"
  check "realm: admin users = the file's users (service account hidden)" eq "$(jget "$(curl -s -H "Authorization: Bearer $CC_AT" "$ADM/users")" 'j.map(u=>u.username).join(",")')" "alice,bob"
  check "realm: a read needing view-realm -> 403" eq "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $CC_AT" "$ADM/roles/x/users")" 403
  check "realm: admin events saved with representation" eq "$(jget "$(curl -s -H "Authorization: Bearer $CC_AT" "$ADM/events/config")" '[j.adminEventsEnabled, j.adminEventsDetailsEnabled].join(",")')" "true,true"
  check "realm: the old fixture secret is refused" eq "$(curl -s -o /dev/null -w '%{http_code}' -u "$CLIENT:$SAVED_SECRET" "$TOKEN_EP" -d grant_type=client_credentials)" 401
  SECRET=$SAVED_SECRET
  stop_idp
fi

echo "# performance: 100000 generated users"
if start_idp perf IDP_LAYOUT=keycloak IDP_GENERATED_USERS=100000; then
  TOKEN_EP="$ISSUER/protocol/openid-connect/token"
  CC_AT=$(jget "$(curl -s -u "$CLIENT:$SECRET" "$TOKEN_EP" -d grant_type=client_credentials)" j.access_token)
  js '
    const [base, tok] = process.argv.slice(1);
    const h = { authorization: `Bearer ${tok}` };
    await (await fetch(`${base}/admin/realms/keyward/users?first=0&max=500`, { headers: h })).json(); // warm-up
    let worst = 0, n = 0;
    for (const first of [0, 50000, 99500]) {
      const t = performance.now();
      const page = await (await fetch(`${base}/admin/realms/keyward/users?first=${first}&max=500&briefRepresentation=false`, { headers: h })).json();
      worst = Math.max(worst, performance.now() - t); n += page.length;
    }
    const count = await (await fetch(`${base}/admin/realms/keyward/users/count`, { headers: h })).json();
    console.log(n, count, worst.toFixed(1));
  ' "$BASE" "$CC_AT" >"$TMP/perf.txt"
  read -r n count worst <"$TMP/perf.txt"
  echo "# worst 500-user page: ${worst} ms"
  check "perf: 3 pages of 500 from 100005 users" eq "$n $count" "1500 100005"
  check "perf: a 500-user page in < 50 ms (worst ${worst} ms)" js 'process.exit(Number(process.argv[1]) < 50 ? 0 : 1)' "$worst"
  stop_idp
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
