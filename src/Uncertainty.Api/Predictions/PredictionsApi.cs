using Microsoft.AspNetCore.Http.HttpResults;
using Uncertainty.Api.Problems;
using Uncertainty.Api.Security;
using Uncertainty.Model.Inference;

namespace Uncertainty.Api.Predictions;

public static class PredictionsApi
{
    internal const double DefaultIntervalLevel = 0.95;

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
        group.MapPost("/models/{name}/predict/image", PredictImage)
            .WithName("PredictImage")
            .WithSummary("Predict for one picture with an image model's default version: multipart part 'image' (PNG or JPEG), converted, resized and scaled as the model's preprocessing ('image' in GET /models/{name}) says.")
            .Accepts<IFormFile>("multipart/form-data")
            .DisableAntiforgery();
        return app;
    }

    public static Task<Ok<PredictResponse>> PredictDefault(PredictRequest request, PredictionService predictions, CancellationToken cancellationToken) =>
        Predict(predictions.DefaultModel, null, request, predictions, cancellationToken);

    public static Task<Ok<PredictResponse>> PredictModel(string name, PredictRequest request, PredictionService predictions, CancellationToken cancellationToken) =>
        Predict(name, null, request, predictions, cancellationToken);

    public static Task<Ok<PredictResponse>> PredictModelVersion(string name, int version, PredictRequest request, PredictionService predictions, CancellationToken cancellationToken) =>
        Predict(name, version, request, predictions, cancellationToken);

    /// <param name="samples">T, the number of stochastic passes.</param>
    /// <param name="seed">Seeds the dropout masks; omitted, fresh masks are drawn and the seed used is returned.</param>
    /// <param name="returnSamples">Also return every pass's class probabilities.</param>
    public static async Task<Ok<PredictResponse>> PredictImage(string name, HttpRequest http, PredictionService predictions, int? samples, ulong? seed, bool? returnSamples, CancellationToken cancellationToken)
    {
        if (!http.HasFormContentType)
        {
            throw new UnsupportedMediaTypeException("Unsupported media type", "Send multipart/form-data with the picture (PNG or JPEG) in a part named 'image'.");
        }

        var form = await RequestBodies.ReadFormAsync(http, cancellationToken);
        if (form.Files.GetFile("image") is not { } file)
        {
            throw new RequestValidationException("image", "The 'image' part (a PNG or JPEG file) is missing.");
        }

        if (form.Files.Count > 1)
        {
            throw new RequestValidationException("image", $"Send one picture per request, in one part named 'image'; got {form.Files.Count} file parts.");
        }

        using var picture = new MemoryStream();
        await file.CopyToAsync(picture, cancellationToken);
        var options = new PredictRequest(null, samples, seed, ReturnSamples: returnSamples ?? false);
        var served = await predictions.PredictImageAsync(name, null, picture.ToArray(), options, cancellationToken);
        return Respond(served, options);
    }

    private static async Task<Ok<PredictResponse>> Predict(string name, int? version, PredictRequest request, PredictionService predictions, CancellationToken cancellationToken) =>
        Respond(await predictions.PredictAsync(name, version, request, cancellationToken), request);

    private static Ok<PredictResponse> Respond(ServedPrediction served, PredictRequest request)
    {
        var level = request.IntervalLevel ?? DefaultIntervalLevel;
        var labels = served.Model.Description.OutputNames;
        var rows = served.Prediction.Rows.Select(row => ToResult(row, level, labels)).ToList();
        return TypedResults.Ok(new PredictResponse(served.Model.Name, served.Model.Version, served.Prediction.SamplesUsed, served.Seed, rows));
    }

    /// <summary>One row as /predict answers it; the Open Inference Protocol's output tensors are cut from these same numbers.</summary>
    internal static RowResult ToResult(RowPrediction row, double level, IReadOnlyList<string>? labels) => row switch
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
