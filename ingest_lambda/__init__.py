"""The ingest Lambda: the HTTP API behind API Gateway (payload v2, Cognito JWT authorizer).

Kept free of imports so that importing the package (or ``ingest_lambda.handler``) stays cheap;
the heavy modules load when the first request builds the app.
"""

API_VERSION = "1.0.0"
