variable "name_prefix" {
  description = "Prefix of the Amplify app name, e.g. sdfleet-prod."
  type        = string
}

variable "repository" {
  description = "HTTPS URL of the Git repository Amplify builds the web app from."
  type        = string
  validation {
    condition     = can(regex("^https://", var.repository))
    error_message = "repository must be an https:// Git URL."
  }
}

variable "access_token" {
  description = "Token Amplify uses to read the repository (GitHub: a fine-grained token with contents read)."
  type        = string
  sensitive   = true
}

variable "branch" {
  description = "Branch Amplify deploys."
  type        = string
  default     = "main"
}

variable "build_spec" {
  description = "Contents of frontend/amplify.yml (null: Amplify reads it from the repository)."
  type        = string
  default     = null
}

variable "app_root" {
  description = "Folder of the web app inside the repository (AMPLIFY_MONOREPO_APP_ROOT)."
  type        = string
  default     = "frontend"
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "api_url" {
  description = "Base URL of the HTTP API (build-time environment of the web app)."
  type        = string
}

variable "user_pool_id" {
  description = "Cognito user pool id (build-time environment of the web app)."
  type        = string
}

variable "user_pool_client_id" {
  description = "Cognito app client id (build-time environment of the web app)."
  type        = string
}

variable "region" {
  description = "AWS region of the user pool."
  type        = string
}
