#!/usr/bin/env bash
# Starts a single-node Apache Kafka broker (KRaft, no Docker) on 127.0.0.1:$SLUICE_KAFKA_PORT
# (default 9092) and waits until it answers. Idempotent: a running broker is left alone.
# It also listens with SASL_SSL on the port after the controller's (default 9094), user
# `sluice`, password `sluice-dev-password`, TLS CA in $SLUICE_KAFKA_DATA/tls/ca.pem: the tests
# of Sluice's Kafka security settings use it.
# Jars come from Maven (kafka/pom.xml) on first use; data, log and pid live in
# $SLUICE_KAFKA_DATA (default kafka/data). Stop it with kafka/stop.sh.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DATA="${SLUICE_KAFKA_DATA:-$HERE/data}"
PORT="${SLUICE_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${SLUICE_KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
SASL_PORT="${SLUICE_KAFKA_SASL_PORT:-$((PORT + 2))}"
JARS="$HERE/jars"
log() { printf '[kafka] %s\n' "$*"; }
start=$(date +%s%N)

command -v java >/dev/null || { echo "kafka/start.sh: java not found (scripts/setup.sh --kafka installs it)" >&2; exit 1; }
if [ ! -f "$JARS/.complete" ]; then
  command -v mvn >/dev/null || { echo "kafka/start.sh: mvn not found (scripts/setup.sh --kafka installs it)" >&2; exit 1; }
  log "fetching broker jars with Maven into $JARS"
  rm -rf "$JARS"
  mvn -q -f "$HERE/pom.xml" dependency:copy-dependencies -DoutputDirectory="$JARS"
  touch "$JARS/.complete"
fi

mkdir -p "$DATA"
PID_FILE="$DATA/broker.pid"
if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
  log "already running (pid $(cat "$PID_FILE")) on 127.0.0.1:$PORT"
  exit 0
fi

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  log "something already answers on 127.0.0.1:$PORT (another broker?); using it"
  exit 0
fi

TLS="$DATA/tls"
if [ ! -f "$TLS/ca.pem" ]; then
  command -v keytool >/dev/null || { echo "kafka/start.sh: keytool not found (it comes with java)" >&2; exit 1; }
  mkdir -p "$TLS"
  rm -f "$TLS/broker.p12"
  keytool -genkeypair -keystore "$TLS/broker.p12" -storetype PKCS12 -storepass sluice-dev-keystore \
    -alias broker -keyalg RSA -keysize 2048 -validity 3650 -dname "CN=127.0.0.1" \
    -ext "SAN=IP:127.0.0.1,DNS:localhost" > "$TLS/keytool.log" 2>&1
  keytool -exportcert -rfc -keystore "$TLS/broker.p12" -storepass sluice-dev-keystore -alias broker \
    -file "$TLS/ca.pem.tmp" >> "$TLS/keytool.log" 2>&1
  mv "$TLS/ca.pem.tmp" "$TLS/ca.pem"
fi
sed -e "s#@LOG_DIRS@#$DATA/logs#" -e "s#@PORT@#$PORT#g" -e "s#@CONTROLLER_PORT@#$CONTROLLER_PORT#g" \
  -e "s#@SASL_PORT@#$SASL_PORT#g" -e "s#@TLS@#$TLS#g" \
  "$HERE/server.properties" > "$DATA/server.properties"
CP="$JARS/*"
JAVA_OPTS=(-Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true
           -Dlog4j2.configurationFile="$HERE/log4j2.yaml")
if [ ! -f "$DATA/logs/meta.properties" ]; then
  CLUSTER_ID="$(java -cp "$CP" "${JAVA_OPTS[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)"
  log "formatting storage (cluster $CLUSTER_ID) in $DATA/logs"
  java -cp "$CP" "${JAVA_OPTS[@]}" kafka.tools.StorageTool format -t "$CLUSTER_ID" \
    -c "$DATA/server.properties" > "$DATA/format.log" 2>&1 || { cat "$DATA/format.log" >&2; exit 1; }
fi

nohup java -cp "$CP" "${JAVA_OPTS[@]}" kafka.Kafka "$DATA/server.properties" > "$DATA/broker.log" 2>&1 &
echo $! > "$PID_FILE"

# Ready when the broker logs that it started (the port alone opens before it serves).
for _ in $(seq 1 600); do
  if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
    echo "kafka/start.sh: broker exited; last lines of $DATA/broker.log:" >&2
    tail -n 30 "$DATA/broker.log" >&2
    rm -f "$PID_FILE"
    exit 1
  fi
  if grep -q "Kafka Server started" "$DATA/broker.log" 2>/dev/null; then
    log "running (pid $(cat "$PID_FILE")) on 127.0.0.1:$PORT (SASL_SSL :$SASL_PORT), ready in $(( ($(date +%s%N) - start) / 1000000 )) ms; log $DATA/broker.log"
    exit 0
  fi
  sleep 0.1
done
echo "kafka/start.sh: broker not ready after 60 s; see $DATA/broker.log" >&2
exit 1
