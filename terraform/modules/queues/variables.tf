variable "name_prefix" {
  description = "Prefix of every queue name, e.g. sdfleet-prod."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,60}$", var.name_prefix))
    error_message = "name_prefix must be 1-60 characters of letters, digits, '-' or '_'."
  }
}

variable "lanes" {
  description = "Queue lanes; workers drain them in this order."
  type        = list(string)
  default     = ["interactive", "batch"]
  validation {
    condition     = length(var.lanes) > 0 && alltrue([for lane in var.lanes : can(regex("^[a-z][a-z0-9-]{0,20}$", lane))])
    error_message = "lanes must be a non-empty list of short lower-case names."
  }
}

variable "visibility_timeout_seconds" {
  description = "How long a received message stays invisible; workers extend it on every heartbeat, so it must exceed the heartbeat interval."
  type        = number
  default     = 120
  validation {
    condition     = var.visibility_timeout_seconds >= 10 && var.visibility_timeout_seconds <= 43200
    error_message = "visibility_timeout_seconds must be between 10 and 43200."
  }
}

variable "lane_visibility_timeout_seconds" {
  description = "Lane name -> visibility timeout overriding visibility_timeout_seconds for that lane (the training lane: a run of minutes should not be redelivered after a few missed heartbeats)."
  type        = map(number)
  default     = {}
  validation {
    condition     = alltrue([for seconds in values(var.lane_visibility_timeout_seconds) : seconds >= 10 && seconds <= 43200])
    error_message = "lane_visibility_timeout_seconds values must be between 10 and 43200."
  }
  validation {
    condition     = alltrue([for lane in keys(var.lane_visibility_timeout_seconds) : contains(var.lanes, lane)])
    error_message = "lane_visibility_timeout_seconds keys must be lanes of this module (var.lanes)."
  }
}

variable "max_receive_count" {
  description = "Deliveries of one message before it moves to the lane's dead-letter queue."
  type        = number
  default     = 3
  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

variable "message_retention_seconds" {
  description = "How long an unprocessed job message is kept in a lane."
  type        = number
  default     = 345600
  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "message_retention_seconds must be between 60 and 1209600 (14 days)."
  }
}

variable "receive_wait_time_seconds" {
  description = "Default long-poll wait of the lanes."
  type        = number
  default     = 20
  validation {
    condition     = var.receive_wait_time_seconds >= 0 && var.receive_wait_time_seconds <= 20
    error_message = "receive_wait_time_seconds must be between 0 and 20."
  }
}

variable "tags" {
  description = "Tags added to every queue."
  type        = map(string)
  default     = {}
}

variable "sender_arns" {
  description = "Lane name -> IAM principal ARNs (roles, users, account roots; other accounts allowed) that may send to that lane. Every other principal is denied sqs:SendMessage; an empty list denies all."
  type        = map(list(string))
  validation {
    condition     = alltrue([for arns in values(var.sender_arns) : alltrue([for arn in arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(root|role/.+|user/.+)$", arn))])])
    error_message = "sender_arns values must be IAM role, user or account root ARNs."
  }
}

variable "dead_letter_sender_arn_patterns" {
  description = "ARN patterns (ArnLike) of the principals that may copy rejected messages into the dead-letter queues (the workers)."
  type        = list(string)
}
