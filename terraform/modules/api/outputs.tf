output "api_endpoint" {
  description = "Base URL of the HTTP API."
  value       = aws_apigatewayv2_api.http.api_endpoint
}

output "api_id" {
  description = "HTTP API id."
  value       = aws_apigatewayv2_api.http.id
}

output "user_pool_id" {
  description = "Cognito user pool id."
  value       = aws_cognito_user_pool.users.id
}

output "user_pool_arn" {
  description = "Cognito user pool ARN."
  value       = aws_cognito_user_pool.users.arn
}

output "user_pool_client_id" {
  description = "Cognito app client id of the web app."
  value       = aws_cognito_user_pool_client.web.id
}

output "issuer" {
  description = "JWT issuer the authorizer trusts."
  value       = local.issuer
}

output "function_name" {
  description = "Ingest Lambda name."
  value       = module.function.function_name
}

output "role_arn" {
  description = "Ingest Lambda execution role ARN (the only principal the interactive lane accepts)."
  value       = module.function.role_arn
}

output "role_unique_id" {
  description = "Ingest Lambda role id (AROA...): the workers' SDFLEET_INGEST_SENDER_ID."
  value       = module.function.role_unique_id
}
