using Uncertainty.Api.Problems;

namespace Uncertainty.Api.Hosting;

/// <summary>Where the service is in its life: starting (models being provided and loaded), serving, draining.</summary>
public sealed class ServiceState
{
    private readonly TaskCompletionSource whenStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool draining;

    /// <summary>Built-in models provided (or, on a read-only replica, found) and every default version tried.</summary>
    public bool Started => whenStarted.Task.IsCompleted;

    public Task WhenStartedAsync() => whenStarted.Task;

    /// <summary>Shutdown has begun: readiness fails so load balancers stop sending, while the listener still answers.</summary>
    public bool Draining => draining;

    public void MarkStarted() => whenStarted.TrySetResult();

    public void MarkDraining() => draining = true;

    public void ThrowIfNotStarted()
    {
        if (!Started)
        {
            throw new ServiceUnavailableException("Starting", "The service is still starting (providing and loading its models); retry shortly.", retryAfterSeconds: 2);
        }
    }
}
