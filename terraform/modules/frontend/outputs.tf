output "app_id" {
  description = "Amplify app id."
  value       = aws_amplify_app.web.id
}

output "origin" {
  description = "Browser origin of the deployed branch (https://<branch>.<app default domain>)."
  value       = "https://${var.branch}.${aws_amplify_app.web.default_domain}"
}
