using Microsoft.Extensions.Options;

namespace Uncertainty.Api.Hosting;

/// <summary>
/// The first step of a graceful stop, before any hosted service (the HTTP server included) stops: readiness
/// turns 503 and responses ask clients to close their connections, for <see cref="UncertaintyOptions.DrainSeconds"/>,
/// so load balancers move traffic away while every request still gets an answer.
/// </summary>
public sealed partial class DrainingSignal(ServiceState state, IOptions<UncertaintyOptions> options, ILogger<DrainingSignal> logger) : IHostedLifecycleService
{
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        state.MarkDraining();
        var delay = TimeSpan.FromSeconds(options.Value.DrainSeconds);
        Log.Draining(logger, delay.TotalSeconds);
        try
        {
            await Task.Delay(delay, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // the host's grace period is shorter than the drain window
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>While draining, every response asks its client to close the connection, so kept-alive clients reconnect elsewhere.</summary>
    public static Task UseDrainingConnections(HttpContext context, Func<Task> next)
    {
        // HTTP/1.1 only: HTTP/2 and 3 have no connection header (their servers send GOAWAY when stopping).
        if (HttpProtocol.IsHttp11(context.Request.Protocol) && context.RequestServices.GetRequiredService<ServiceState>().Draining)
        {
            context.Response.Headers.Connection = "close";
        }

        return next();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2011, Level = LogLevel.Information, Message = "Stopping: readiness reports 503 for {Seconds} s while requests are still answered")]
        public static partial void Draining(ILogger logger, double seconds);
    }
}
