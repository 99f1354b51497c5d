# The web app on Amplify Hosting. The API URL and Cognito ids are set on the branch, not the
# app, so the app's default domain (which the API's CORS rules need) does not depend on the API.

resource "aws_amplify_app" "web" {
  name         = "${var.name_prefix}-web"
  repository   = var.repository
  access_token = var.access_token
  build_spec   = var.build_spec
  platform     = "WEB"

  environment_variables = {
    AMPLIFY_MONOREPO_APP_ROOT = var.app_root
  }

  custom_rule {
    source = "/<*>"
    status = "404-200"
    target = "/index.html"
  }

  tags = var.tags
}

resource "aws_amplify_branch" "main" {
  app_id            = aws_amplify_app.web.id
  branch_name       = var.branch
  stage             = "PRODUCTION"
  enable_auto_build = true
  environment_variables = {
    SDFLEET_API_URL          = var.api_url
    SDFLEET_USER_POOL_ID     = var.user_pool_id
    SDFLEET_USER_POOL_CLIENT = var.user_pool_client_id
    SDFLEET_REGION           = var.region
  }
  tags = var.tags
}
