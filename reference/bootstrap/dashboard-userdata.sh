#!/bin/bash
# Dashboard instance bootstrap (seed 002: EFS for themes/images/excel-data, RDS MariaDB,
# docker compose). This file is a CloudFormation Fn::Sub template: every dollar-brace placeholder is
# filled in by the stack, so the script itself uses no braced shell variables.
# The template's launch template carries exactly this text; `stackproof build userdata`
# copies it in and CI fails when the two differ.
set -euo pipefail
exec >>/var/log/dashboard-bootstrap.log 2>&1

REGION="${AWS::Region}"
FILE_SYSTEM_ID="${FileSystemId}"
DB_SECRET_ARN="${DatabaseSecretArn}"
DB_HOST="${DatabaseHost}"
DB_PORT="${DatabasePort}"
DB_NAME="${DatabaseName}"
APP_PORT="${AppPort}"
APP_LOG_GROUP="${AppLogGroup}"
DASHBOARD_IMAGE="${DashboardImage}"
MOUNT_POINT=/mnt/efs
DATA_DIR=$MOUNT_POINT/panintelligence
ENV_DIR=/var/panintelligence
ENV_FILE=$ENV_DIR/dashboard.env
COMPOSE_FILE=$ENV_DIR/docker-compose.yml

echo "bootstrap: start $(date -Is)"

# Install only what the AMI lacks: the Panintelligence AMI (Ubuntu) ships docker and compose;
# Amazon Linux 2023 ships the AWS CLI and has the rest in its repositories.
if command -v dnf >/dev/null; then
  dnf install -y amazon-efs-utils docker jq
  systemctl enable --now docker
elif command -v apt-get >/dev/null; then
  MISSING=""
  command -v jq >/dev/null || MISSING="$MISSING jq"
  command -v aws >/dev/null || MISSING="$MISSING awscli"
  command -v docker >/dev/null || MISSING="$MISSING docker.io"
  if [ -n "$MISSING" ]; then
    apt-get update
    # shellcheck disable=SC2086
    apt-get install -y $MISSING
  fi
fi
if ! command -v mount.efs >/dev/null; then
  echo "bootstrap: amazon-efs-utils is missing and cannot be installed on this AMI" >&2
  exit 1
fi
if ! docker compose version >/dev/null 2>&1; then
  mkdir -p /usr/local/lib/docker/cli-plugins
  curl -fsSL -o /usr/local/lib/docker/cli-plugins/docker-compose \
    "https://github.com/docker/compose/releases/download/v2.29.7/docker-compose-linux-$(uname -m)"
  chmod 755 /usr/local/lib/docker/cli-plugins/docker-compose
fi

# EFS over TLS with IAM authorisation: the file-system policy denies every other mount.
mkdir -p "$MOUNT_POINT"
if ! grep -q " $MOUNT_POINT efs " /etc/fstab; then
  echo "$FILE_SYSTEM_ID:/ $MOUNT_POINT efs _netdev,noresvport,tls,iam 0 0" >>/etc/fstab
fi
mountpoint -q "$MOUNT_POINT" || mount "$MOUNT_POINT"
mkdir -p "$DATA_DIR/images" "$DATA_DIR/themes" "$DATA_DIR/excel-data"

# Credentials come from Secrets Manager at boot and are written only to a root-only file.
SECRET_JSON=$(aws secretsmanager get-secret-value --region "$REGION" \
  --secret-id "$DB_SECRET_ARN" --query SecretString --output text)
DB_USERNAME=$(printf '%s' "$SECRET_JSON" | jq -r .username)
DB_PASSWORD=$(printf '%s' "$SECRET_JSON" | jq -r .password)
unset SECRET_JSON

umask 077
mkdir -p "$ENV_DIR"
cat >"$ENV_FILE" <<ENV
PI_DB_HOST=$DB_HOST
PI_DB_PORT=$DB_PORT
PI_DB_SCHEMA_NAME=$DB_NAME
PI_DB_USERNAME=$DB_USERNAME
PI_DB_PASSWORD=$DB_PASSWORD
PI_DB_SSL=true
ENV
unset DB_PASSWORD
chmod 600 "$ENV_FILE"

# The Panintelligence AMI ships its own compose file; otherwise run the configured image.
if [ ! -f "$COMPOSE_FILE" ]; then
  cat >"$COMPOSE_FILE" <<COMPOSE
services:
  dashboard:
    image: $DASHBOARD_IMAGE
    restart: unless-stopped
    env_file: $ENV_FILE
    ports:
      - "$APP_PORT:8224"
    volumes:
      - $DATA_DIR/images:/var/panintelligence/Dashboard/tomcat/webapps/panMISDashboardResources/images
      - $DATA_DIR/themes:/var/panintelligence/Dashboard/tomcat/webapps/panMISDashboardResources/themes
      - $DATA_DIR/excel-data:/var/panintelligence/Dashboard/excel-data
    logging:
      driver: awslogs
      options:
        awslogs-region: $REGION
        awslogs-group: $APP_LOG_GROUP
        tag: dashboard
COMPOSE
fi

docker compose --file "$COMPOSE_FILE" up --detach
echo "bootstrap: done $(date -Is)"
