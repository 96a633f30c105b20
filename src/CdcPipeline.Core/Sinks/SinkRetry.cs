using Polly;
using Polly.Retry;

namespace CdcPipeline.Core.Sinks;

/// <summary>
/// The retries a sink's <see cref="SinkPolicy"/> asks for (<c>retry:</c> of a sink with <c>onFailure: retry</c>), built
/// the one way the pipeline and the operator commands that deliver again (<c>dlq redrive</c> of a dead-letter file) both
/// use: exponential backoff with jitter, a receiver's Retry-After taken within bounds, a permanent refusal not retried.
/// Any other policy gets no retries.
/// </summary>
public static class SinkRetry
{
    /// <param name="onRetry">Called before each retry (to log it), with the failure and the attempt about to be made.</param>
    public static ResiliencePipeline Build(SinkPolicy policy, TimeProvider time, Func<OnRetryArguments<object>, ValueTask>? onRetry = null)
    {
        var builder = new ResiliencePipelineBuilder { TimeProvider = time };
        if (policy.OnFailure == FailurePolicy.Retry && policy.MaxAttempts != 1)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                // A client's own time-out is often an OperationCanceledException (TaskCanceledException): retried like any other
                // transient failure unless the caller itself is stopping.
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } e and not PermanentDeliveryException
                    && !(e is OperationCanceledException && args.Context.CancellationToken.IsCancellationRequested)),
                MaxRetryAttempts = policy.MaxAttempts <= 0 ? int.MaxValue : policy.MaxAttempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = policy.InitialDelay,
                MaxDelay = policy.MaxDelay,
                // A receiver that said when to try again (HTTP Retry-After) is taken at its word, within bounds.
                DelayGenerator = args => ValueTask.FromResult(args.Outcome.Exception is RetryLaterException later
                    ? (TimeSpan?)(later.Delay < policy.InitialDelay ? policy.InitialDelay : later.Delay > RetryLaterException.MaxDelay ? RetryLaterException.MaxDelay : later.Delay)
                    : null),
                OnRetry = onRetry,
            });
        }

        return builder.Build();
    }
}
