output "ami_id" {
  description = "The baked worker AMI."
  value       = one(one(aws_imagebuilder_image.worker.output_resources).amis).image
}
