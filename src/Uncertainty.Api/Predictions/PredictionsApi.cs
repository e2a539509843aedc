using Microsoft.AspNetCore.Http.HttpResults;
using Uncertainty.Api.Problems;
using Uncertainty.Api.Security;
using Uncertainty.Model.Inference;

namespace Uncertainty.Api.Predictions;

public static class PredictionsApi
{
    private const double DefaultIntervalLevel = 0.95;

    public static IEndpointRouteBuilder MapPredictionsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("").WithTags("Predictions").RequireInferenceScope()
            .ProducesServiceProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status429TooManyRequests, StatusCodes.Status503ServiceUnavailable, StatusCodes.Status504GatewayTimeout);
        group.MapPost("/predict", PredictDefault)
            .WithName("Predict")
            .WithSummary("Predict with the default model: MC dropout mean, epistemic/aleatoric/predictive variance and an interval per input row (probabilities, entropy and mutual information for classifiers).");
        group.MapPost("/models/{name}/predict", PredictModel)
            .WithName("PredictWithModel")
            .WithSummary("Predict with a named model's default version.");
        group.MapPost("/models/{name}/versions/{version:int}/predict", PredictModelVersion)
            .WithName("PredictWithModelVersion")
            .WithSummary("Predict with one version of a named model.");
        return app;
    }

    public static Task<Ok<PredictResponse>> PredictDefault(PredictRequest request, PredictionService predictions, CancellationToken cancellationToken) =>
        Predict(predictions.DefaultModel, null, request, predictions, cancellationToken);

    public static Task<Ok<PredictResponse>> PredictModel(string name, PredictRequest request, PredictionService predictions, CancellationToken cancellationToken) =>
        Predict(name, null, request, predictions, cancellationToken);

    public static Task<Ok<PredictResponse>> PredictModelVersion(string name, int version, PredictRequest request, PredictionService predictions, CancellationToken cancellationToken) =>
        Predict(name, version, request, predictions, cancellationToken);

    private static async Task<Ok<PredictResponse>> Predict(string name, int? version, PredictRequest request, PredictionService predictions, CancellationToken cancellationToken)
    {
        var served = await predictions.PredictAsync(name, version, request, cancellationToken);
        var level = request.IntervalLevel ?? DefaultIntervalLevel;
        var labels = served.Model.Description.OutputNames;
        var rows = served.Prediction.Rows.Select(row => ToResult(row, level, labels)).ToList();
        return TypedResults.Ok(new PredictResponse(served.Model.Name, served.Model.Version, served.Prediction.SamplesUsed, served.Seed, rows));
    }

    private static RowResult ToResult(RowPrediction row, double level, IReadOnlyList<string>? labels) => row switch
    {
        RegressionPrediction regression => new RowResult
        {
            Mean = regression.Mean,
            EpistemicVariance = regression.EpistemicVariance,
            AleatoricVariance = regression.AleatoricVariance,
            PredictiveVariance = regression.PredictiveVariance,
            Std = regression.Std,
            Interval = regression.Interval(level) is var (lower, upper) ? new IntervalResult(level, lower, upper) : null,
            Samples = regression.Samples,
        },
        ClassPrediction classes => new RowResult
        {
            Mean = classes.Probabilities,
            EpistemicVariance = [.. classes.ProbabilityStd.Select(s => s * s)],
            Probabilities = classes.Probabilities,
            ProbabilityStd = classes.ProbabilityStd,
            Label = labels is { } names && classes.Label < names.Count ? names[classes.Label] : classes.Label.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Entropy = classes.Entropy,
            ExpectedEntropy = classes.ExpectedEntropy,
            MutualInformation = classes.MutualInformation,
            VariationRatio = classes.VariationRatio,
            Samples = classes.Samples,
        },
        _ => throw new InvalidOperationException($"unknown prediction {row.GetType().Name}"),
    };
}
