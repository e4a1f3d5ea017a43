#!/bin/bash
# Seed 003 ("Method 2"), unchanged but for the variable lines. The AWS CLI
# finds cognate through AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER, set by
# the test (the standard way to point the CLI at another endpoint).

API_URL="${SEED_API_URL}"
COGNITO_IDP_URL="${SEED_COGNITO_IDP_URL}"
CLIENT_ID="${SEED_CLIENT_ID}"
CLIENT_SECRET="${SEED_CLIENT_SECRET}"
USERNAME="${SEED_USERNAME}"
PASSWORD="${SEED_PASSWORD}"
REGION="us-east-1"

# HMAC Computed hash -- SHA256 with key CLIENT_SECRET of USERNAME+CLIENT_ID and base64'd
# See: https://docs.aws.amazon.com/cognito/latest/developerguide/signing-up-users-in-your-app.html#cognito-user-pools-computing-secret-hash
SECRET_HASH=$(echo -n "${USERNAME}${CLIENT_ID}" | openssl dgst -sha256 -hmac ${CLIENT_SECRET} -binary | openssl enc -base64)

# Include SECRET_HASH if app client generates client_secret
response=$(aws cognito-idp initiate-auth \
--auth-flow USER_PASSWORD_AUTH \
--client-id "$CLIENT_ID" \
--auth-parameters "USERNAME=$USERNAME,PASSWORD=$PASSWORD,SECRET_HASH=$SECRET_HASH" \
--region "$REGION" \
--output json \
)

ACCESS_TOKEN=$(echo "$response" | jq -r '.AuthenticationResult.AccessToken')
REFRESH_TOKEN=$(echo "$response" | jq -r '.AuthenticationResult.RefreshToken')

echo "Access Token: $ACCESS_TOKEN"

curl -s -H "Authorization: Bearer $ACCESS_TOKEN" $API_URL
