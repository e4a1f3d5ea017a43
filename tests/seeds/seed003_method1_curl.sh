#!/bin/bash
# Seed 003 ("Method 1"), unchanged but for the variable lines: they read the
# URL, ids and secret of the cognate under test from the environment.

API_URL="${SEED_API_URL}"
COGNITO_IDP_URL="${SEED_COGNITO_IDP_URL}"
CLIENT_ID="${SEED_CLIENT_ID}"
CLIENT_SECRET="${SEED_CLIENT_SECRET}"
USERNAME="${SEED_USERNAME}"
PASSWORD="${SEED_PASSWORD}"

# HMAC Computed hash -- SHA256 with key CLIENT_SECRET of USERNAME+CLIENT_ID and base64'd
# See: https://docs.aws.amazon.com/cognito/latest/developerguide/signing-up-users-in-your-app.html#cognito-user-pools-computing-secret-hash
SECRET_HASH=$(echo -n "${USERNAME}${CLIENT_ID}" | openssl dgst -sha256 -hmac ${CLIENT_SECRET} -binary | openssl enc -base64)

# Include SECRET_HASH if app client generates client_secret
response=$(curl -s --location --request POST $COGNITO_IDP_URL \
--header 'X-Amz-Target: AWSCognitoIdentityProviderService.InitiateAuth' \
--header 'Content-Type: application/x-amz-json-1.1' \
--data-raw "{
\"AuthFlow\": \"USER_PASSWORD_AUTH\",
\"AuthParameters\": {
\"USERNAME\": \"$USERNAME\",
\"PASSWORD\": \"$PASSWORD\",
\"SECRET_HASH\": \"$SECRET_HASH\"
},
\"ClientId\": \"$CLIENT_ID\"
}")

ACCESS_TOKEN=$(echo "$response" | jq -r '.AuthenticationResult.AccessToken')

echo "Access Token: $ACCESS_TOKEN"

curl -s -H "Authorization: Bearer $ACCESS_TOKEN" $API_URL
