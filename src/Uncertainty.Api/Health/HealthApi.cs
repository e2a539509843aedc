using Microsoft.AspNetCore.Http.HttpResults;
using Uncertainty.Api.Hosting;
using Uncertainty.Api.Inference;

namespace Uncertainty.Api.Health;

public static class HealthApi
{
    /// <summary>A probe's answer.</summary>
    /// <param name="Status">live; ready, or degraded when some model cannot serve; starting, draining or failed (503).</param>
    /// <param name="Model">The model POST /predict serves.</param>
    /// <param name="Version">Its default version.</param>
    /// <param name="Models">Each model's default version and state (loaded, notLoaded, failed with the error).</param>
    public sealed record HealthStatus(string Status, string? Model = null, int? Version = null, IReadOnlyList<ModelHealth>? Models = null);

    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/health").WithTags("Health");
        group.MapGet("/live", () => TypedResults.Ok(new HealthStatus("live")))
            .WithName("Live")
            .WithDescription("A liveness probe: 200 whenever the process answers HTTP.")
            .WithSummary("The process is up.");
        group.MapGet("/ready", Ready)
            .WithName("Ready")
            .Produces<HealthStatus>(StatusCodes.Status503ServiceUnavailable)
            .WithDescription("A readiness probe: 200 with each model's state once the service has started and until it begins to drain; 503 with status starting, draining or failed otherwise.")
            .WithSummary("200 once started (models provided and loaded) and until shutdown begins; lists each model's state. 503 while starting or draining.");
        return app;
    }

    public static Results<Ok<HealthStatus>, JsonHttpResult<HealthStatus>> Ready(ServiceState state, ModelRegistry registry, InferenceScheduler scheduler, Microsoft.Extensions.Options.IOptions<UncertaintyOptions> options)
    {
        if (state.Draining || !state.Started || !scheduler.Alive)
        {
            var status = state.Draining ? "draining" : !scheduler.Alive ? "failed" : "starting";
            return TypedResults.Json(new HealthStatus(status), statusCode: StatusCodes.Status503ServiceUnavailable);
        }

        var models = registry.Health();
        var main = models.FirstOrDefault(m => m.Name == options.Value.DefaultModel);
        return TypedResults.Ok(new HealthStatus(models.All(m => m.State != "failed") ? "ready" : "degraded", options.Value.DefaultModel, main?.DefaultVersion, models));
    }
}
