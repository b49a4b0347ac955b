# Sidekiq workers for test_framework_sidekiq.py. Each records what it did in the server under
# test (REDIS_URL), so the test can check the effects.
require "sidekiq"

Sidekiq.configure_server do |config|
  config.redis = { url: ENV.fetch("REDIS_URL") }
  # Poll the schedule every second and skip the 10 s start-up wait a fixed interval allows.
  config.options[:poll_interval_average] = 1
end
Sidekiq.configure_client do |config|
  config.redis = { url: ENV.fetch("REDIS_URL") }
end

class AddWorker
  include Sidekiq::Worker
  def perform(a, b)
    Sidekiq.redis { |r| r.rpush("sidekiq-test:sums", a + b) }
  end
end

class ScheduledWorker
  include Sidekiq::Worker
  def perform(tag)
    Sidekiq.redis { |r| r.set("sidekiq-test:scheduled", "#{tag}:#{Time.now.to_f}") }
  end
end

class FailingWorker
  include Sidekiq::Worker
  sidekiq_options retry: 5
  def perform
    raise ArgumentError, "this job always fails"
  end
end

class DeadWorker
  include Sidekiq::Worker
  sidekiq_options retry: 0
  def perform
    raise ArgumentError, "no retries for this one"
  end
end
