# Enqueues the jobs of test_framework_sidekiq.py and prints what the Sidekiq API reports.
require_relative "sidekiq_jobs"
require "sidekiq/api"

case ARGV[0]
when "enqueue"
  10.times { |i| AddWorker.perform_async(i, 1000) }
  AddWorker.set(queue: "critical").perform_async(1, 1)
  ScheduledWorker.perform_in(1, "later")
  FailingWorker.perform_async
  DeadWorker.perform_async
  puts "default=#{Sidekiq::Queue.new.size}", "critical=#{Sidekiq::Queue.new('critical').size}",
       "scheduled=#{Sidekiq::ScheduledSet.new.size}"
when "stats"
  s = Sidekiq::Stats.new
  retry_job = Sidekiq::RetrySet.new.first
  puts "processed=#{s.processed}", "failed=#{s.failed}", "retry=#{Sidekiq::RetrySet.new.size}",
       "dead=#{Sidekiq::DeadSet.new.size}", "scheduled=#{Sidekiq::ScheduledSet.new.size}",
       "enqueued=#{s.enqueued}", "retry_class=#{retry_job&.klass}",
       "retry_error=#{retry_job&.item&.dig('error_message')}"
end
