#!/bin/sh
# Generated from bookpay_shared.kafka_acls by `python -m bookpay_devstack.compose --write`. Do not edit.
# Grants each Kafka principal its rights (docs/kafka-security.md); kafka-init runs it.
# Safe to rerun.
set -eu
: "${BOOTSTRAP_SERVERS:=kafka:19092}"
: "${KAFKA_ADMIN_PASSWORD:?the password of the Kafka super user}"
CLIENT_CONFIG="${CLIENT_CONFIG:-/tmp/bookpay-admin.properties}"
cat > "$CLIENT_CONFIG" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$KAFKA_ADMIN_PASSWORD";
EOF
/opt/kafka/bin/kafka-acls.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --add --allow-principal User:booking-service --operation Write --topic payment-over-collected --topic booking-charged --topic accounts-state --topic customers-state --topic bookings-state --topic payment-succeeded.dlq
/opt/kafka/bin/kafka-acls.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --add --allow-principal User:booking-service --operation Read --topic payment-succeeded --group booking-service.payment-succeeded
/opt/kafka/bin/kafka-acls.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --add --allow-principal User:charge-service --operation Write --topic charge-requested --topic charge-accepted --topic payment-succeeded --topic payment-failed --topic stripe-connections-state --topic charge-requested.dlq --topic payment-over-collected.dlq --topic payment-link-paid.dlq --topic payment-link-closed.dlq --topic accounts-state.dlq --topic customers-state.dlq --topic bookings-state.dlq
/opt/kafka/bin/kafka-acls.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --add --allow-principal User:charge-service --operation Read --topic charge-requested --topic payment-over-collected --topic payment-link-paid --topic payment-link-closed --topic accounts-state --topic customers-state --topic bookings-state --group charge-service.charge-requested --group charge-service.payment-over-collected --group charge-service.payment-link-paid --group charge-service.payment-link-closed --group charge-service.accounts-state --group charge-service.customers-state --group charge-service.bookings-state
/opt/kafka/bin/kafka-acls.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --add --allow-principal User:link-service --operation Write --topic payment-link-created --topic payment-link-paid --topic payment-link-closed --topic charge-accepted.dlq --topic payment-succeeded.dlq --topic payment-failed.dlq --topic accounts-state.dlq --topic customers-state.dlq --topic bookings-state.dlq --topic stripe-connections-state.dlq
/opt/kafka/bin/kafka-acls.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --add --allow-principal User:link-service --operation Read --topic charge-accepted --topic payment-succeeded --topic payment-failed --topic accounts-state --topic customers-state --topic bookings-state --topic stripe-connections-state --group link-service.charge-accepted --group link-service.payment-succeeded --group link-service.payment-failed --group link-service.accounts-state --group link-service.customers-state --group link-service.bookings-state --group link-service.stripe-connections-state
/opt/kafka/bin/kafka-acls.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --add --allow-principal User:notification-service --operation Write --topic notification-failed --topic payment-succeeded.dlq --topic payment-link-created.dlq --topic booking-charged.dlq --topic accounts-state.dlq --topic customers-state.dlq --topic bookings-state.dlq
/opt/kafka/bin/kafka-acls.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --add --allow-principal User:notification-service --operation Read --topic payment-succeeded --topic payment-link-created --topic booking-charged --topic accounts-state --topic customers-state --topic bookings-state --group notification-service.payment-succeeded --group notification-service.payment-link-created --group notification-service.booking-charged --group notification-service.accounts-state --group notification-service.customers-state --group notification-service.bookings-state
/opt/kafka/bin/kafka-acls.sh --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$CLIENT_CONFIG" --add --allow-principal User:internal-publisher --operation Write --topic charge-requested
echo "bookpay: ACLs ready on $BOOTSTRAP_SERVERS"
