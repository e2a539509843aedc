using Microsoft.AspNetCore.Http.HttpResults;
using Uncertainty.Api.Problems;
using Uncertainty.Api.Security;

namespace Uncertainty.Api.Predictions;

/// <summary>Forecasts of a forecasting model: a history in, one predictive distribution per horizon day out.</summary>
public static class ForecastApi
{
    public static IEndpointRouteBuilder MapForecastApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("").WithTags("Predictions").RequireInferenceScope()
            .ProducesServiceProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status422UnprocessableEntity, StatusCodes.Status429TooManyRequests, StatusCodes.Status503ServiceUnavailable, StatusCodes.Status504GatewayTimeout);
        group.MapPost("/models/{name}/forecast", Forecast)
            .WithName("Forecast")
            .WithDescription("A JSON body with the daily history (at least the model's window) and the date of its last day. Each MC pass is one coherent forecast path: its dropout masks are shared by every day. The answer has one entry per day of the model's horizon with the mean, the variances and the central intervals at each requested level.")
            .WithSummary("Forecast the days after a history with a forecasting model's default version: per day the MC mean, epistemic/aleatoric/predictive variance and central intervals, and optionally MC sample paths.");
        return app;
    }

    /// <param name="name">The model's name (GET /models lists them).</param>
    public static async Task<Ok<ForecastResponse>> Forecast(string name, ForecastRequest request, PredictionService predictions, CancellationToken cancellationToken) =>
        TypedResults.Ok(await predictions.ForecastAsync(name, request, cancellationToken));
}
