#!/bin/sh
# Generated from bookpay_shared.topics.ALL_TOPICS by `python -m bookpay_devstack.compose --write`. Do not edit.
# Creates bookpay's Kafka topics; docker-compose.yml's kafka-init runs it. Safe to rerun.
set -eu
: "${BOOTSTRAP_SERVERS:=kafka:19092}"
: "${KAFKA_ADMIN_PASSWORD:?the password of the Kafka super user}"
CLIENT_CONFIG="${CLIENT_CONFIG:-/tmp/bookpay-admin.properties}"
cat > "$CLIENT_CONFIG" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$KAFKA_ADMIN_PASSWORD";
EOF
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic charge-requested --partitions 6 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic charge-accepted --partitions 6 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic payment-succeeded --partitions 6 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic payment-failed --partitions 6 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic payment-over-collected --partitions 6 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic payment-link-created --partitions 6 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic payment-link-paid --partitions 6 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic payment-link-closed --partitions 6 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic booking-charged --partitions 6 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic notification-failed --partitions 6 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic accounts-state --partitions 6 --replication-factor 1 --config cleanup.policy=compact
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic customers-state --partitions 6 --replication-factor 1 --config cleanup.policy=compact
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic bookings-state --partitions 6 --replication-factor 1 --config cleanup.policy=compact
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic stripe-connections-state --partitions 6 --replication-factor 1 --config cleanup.policy=compact
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic api-keys-state --partitions 6 --replication-factor 1 --config cleanup.policy=compact
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic charge-requested.dlq --partitions 3 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic charge-accepted.dlq --partitions 3 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic payment-succeeded.dlq --partitions 3 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic payment-failed.dlq --partitions 3 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic payment-over-collected.dlq --partitions 3 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic payment-link-created.dlq --partitions 3 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic payment-link-paid.dlq --partitions 3 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic payment-link-closed.dlq --partitions 3 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic booking-charged.dlq --partitions 3 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic notification-failed.dlq --partitions 3 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic accounts-state.dlq --partitions 3 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic customers-state.dlq --partitions 3 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic bookings-state.dlq --partitions 3 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic stripe-connections-state.dlq --partitions 3 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic api-keys-state.dlq --partitions 3 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --create --if-not-exists --topic dlq-replays --partitions 1 --replication-factor 1 --config cleanup.policy=compact
echo "bookpay: 31 topics ready on $BOOTSTRAP_SERVERS"
