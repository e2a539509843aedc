using Microsoft.AspNetCore.Http.HttpResults;
using Uncertainty.Api.Inference;

namespace Uncertainty.Api.Health;

public static class HealthApi
{
    public sealed record HealthStatus(string Status, string? Model = null, int? Version = null);

    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/health").WithTags("Health");
        group.MapGet("/live", () => TypedResults.Ok(new HealthStatus("live")))
            .WithName("Live")
            .WithSummary("The process is up.");
        group.MapGet("/ready", Ready)
            .WithName("Ready")
            .WithSummary("Ready once the default model is loaded.");
        return app;
    }

    public static Results<Ok<HealthStatus>, ProblemHttpResult> Ready(InferenceWorker worker) =>
        worker.DefaultModel is { } model
            ? TypedResults.Ok(new HealthStatus("ready", model.Name, model.Version))
            : TypedResults.Problem("The default model is not loaded yet.", statusCode: StatusCodes.Status503ServiceUnavailable, title: "Not ready");
}
