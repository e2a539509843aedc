using Microsoft.AspNetCore.Http.HttpResults;
using Uncertainty.Api.OpenApi;
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
            .ProducesServiceProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status422UnprocessableEntity, StatusCodes.Status429TooManyRequests, StatusCodes.Status503ServiceUnavailable, StatusCodes.Status504GatewayTimeout);
        group.MapPost("/predict", PredictDefault)
            .WithName("Predict")
            .WithDescription("Predicts with the model named by Uncertainty:DefaultModel. Rows are arrays in the model's feature order or objects keyed by feature name (text models take strings, image models arrays of pixels); T stochastic passes with dropout on give each row's mean and its epistemic and aleatoric variance. The same seed gives the same numbers. A full inference queue answers 429 with Retry-After, a draining service 503 with Retry-After, and work over its time limit 504.")
            .WithSummary("Predict with the default model: MC dropout mean, epistemic/aleatoric/predictive variance and an interval per input row (probabilities, entropy and mutual information for classifiers).");
        group.MapPost("/models/{name}/predict", PredictModel)
            .WithName("PredictWithModel")
            .WithDescription("Predicts with the default version of the named model. Rows are arrays in the model's feature order or objects keyed by feature name (text models take strings, image models arrays of pixels); T stochastic passes with dropout on give each row's mean and its epistemic and aleatoric variance. The same seed gives the same numbers. A full inference queue answers 429 with Retry-After, a draining service 503 with Retry-After, and work over its time limit 504.")
            .WithSummary("Predict with a named model's default version.");
        group.MapPost("/models/{name}/versions/{version:int}/predict", PredictModelVersion)
            .WithName("PredictWithModelVersion")
            .WithDescription("Predicts with one version of the named model, whether or not it is the default. Rows are arrays in the model's feature order or objects keyed by feature name (text models take strings, image models arrays of pixels); T stochastic passes with dropout on give each row's mean and its epistemic and aleatoric variance. The same seed gives the same numbers. A full inference queue answers 429 with Retry-After, a draining service 503 with Retry-After, and work over its time limit 504.")
            .WithSummary("Predict with one version of a named model.");
        group.MapPost("/models/{name}/predict/image", PredictImage)
            .WithName("PredictImage")
            .WithDescription("Multipart form data with one file part 'image' (PNG or JPEG, one picture per request); the query gives samples, seed and returnSamples. The picture is converted to the model's channels, resized, scaled and, when its background is the opposite of the training images', inverted, as GET /models/{name} shows under 'image'. Anything but multipart is 415; a non-image model is 400.")
            .WithSummary("Predict for one picture with an image model's default version: multipart part 'image' (PNG or JPEG), converted, resized and scaled as the model's preprocessing ('image' in GET /models/{name}) says.")
            .Accepts<IFormFile>("multipart/form-data")
            .WithMultipartBody("image", "The picture, PNG or JPEG.", fileRequired: true, RequestPart.None)
            .DisableAntiforgery();
        return app;
    }

    public static Task<Ok<PredictResponse>> PredictDefault(PredictRequest request, PredictionService predictions, CancellationToken cancellationToken) =>
        Predict(predictions.DefaultModel, null, request, predictions, cancellationToken);

    /// <param name="name">The model's name (GET /models lists them).</param>
    public static Task<Ok<PredictResponse>> PredictModel(string name, PredictRequest request, PredictionService predictions, CancellationToken cancellationToken) =>
        Predict(name, null, request, predictions, cancellationToken);

    /// <param name="name">The model's name (GET /models lists them).</param>
    /// <param name="version">The model version (GET /models/{name} lists them).</param>
    public static Task<Ok<PredictResponse>> PredictModelVersion(string name, int version, PredictRequest request, PredictionService predictions, CancellationToken cancellationToken) =>
        Predict(name, version, request, predictions, cancellationToken);

    /// <param name="samples">T, the number of stochastic passes.</param>
    /// <param name="seed">Seeds the dropout masks; omitted, fresh masks are drawn and the seed used is returned.</param>
    /// <param name="returnSamples">Also return every pass's class probabilities.</param>
    /// <param name="name">The model's name (GET /models lists them).</param>
    /// <param name="mode">"mc" (default) or "deterministic" (one pass with dropout off), as in the JSON body of /predict.</param>
    /// <param name="interval">"gaussian" (default) or "quantile" (regression image models only), as in the JSON body of /predict.</param>
    /// <param name="intervalLevel">Level of the central predictive interval (regression image models).</param>
    public static async Task<Ok<PredictResponse>> PredictImage(string name, HttpRequest http, PredictionService predictions, int? samples, ulong? seed, bool? returnSamples, string? mode, string? interval, double? intervalLevel, CancellationToken cancellationToken)
    {
        var passMode = ParseOption<PredictionMode>(mode, nameof(mode));
        var intervalMethod = ParseOption<IntervalMethod>(interval, nameof(interval));
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
        var options = new PredictRequest(null, samples, seed, intervalLevel, ReturnSamples: returnSamples ?? false, Mode: passMode, Interval: intervalMethod);
        var served = await predictions.PredictImageAsync(name, null, picture.ToArray(), options, cancellationToken);
        return Respond(served, options);
    }

    private static async Task<Ok<PredictResponse>> Predict(string name, int? version, PredictRequest request, PredictionService predictions, CancellationToken cancellationToken) =>
        Respond(await predictions.PredictAsync(name, version, request, cancellationToken), request);

    /// <summary>
    /// A query-string option by its JSON name ("mc", "quantile"), or null when absent; anything else, integers included,
    /// is a 400 naming the parameter, as the JSON body's converter would refuse it.
    /// </summary>
    private static T? ParseOption<T>(string? value, string parameter)
        where T : struct, Enum
    {
        if (value is null)
        {
            return null;
        }

        try
        {
            return System.Text.Json.JsonSerializer.Deserialize<T>(System.Text.Json.JsonSerializer.Serialize(value));
        }
        catch (System.Text.Json.JsonException)
        {
            var names = Enum.GetValues<T>().Select(v => System.Text.Json.JsonSerializer.Serialize(v));
            throw new RequestValidationException(parameter, $"{parameter} must be one of {string.Join(", ", names)}; got \"{value}\".");
        }
    }

    private static Ok<PredictResponse> Respond(ServedPrediction served, PredictRequest request)
    {
        var level = request.IntervalLevel ?? DefaultIntervalLevel;
        var method = request.Interval ?? IntervalMethod.Gaussian;
        var labels = served.Model.Description.OutputNames;
        var rows = served.Prediction.Rows.Select(row => ToResult(row, level, method, labels)).ToList();
        return TypedResults.Ok(new PredictResponse(served.Model.Name, served.Model.Version, served.Prediction.SamplesUsed, served.Seed, rows)
        {
            Mode = request.Mode ?? PredictionMode.Mc,
        });
    }

    private static IntervalResult Interval(RegressionPrediction regression, double level, IntervalMethod method)
    {
        var (lower, upper) = PredictionService.Interval(regression, level, method);
        return new IntervalResult(level, lower, upper) { Method = method };
    }

    /// <summary>One row as /predict answers it; the Open Inference Protocol's output tensors are cut from these same numbers.</summary>
    internal static RowResult ToResult(RowPrediction row, double level, IntervalMethod method, IReadOnlyList<string>? labels) => row switch
    {
        RegressionPrediction regression => new RowResult
        {
            Mean = regression.Mean,
            EpistemicVariance = regression.EpistemicVariance,
            AleatoricVariance = regression.AleatoricVariance,
            PredictiveVariance = regression.PredictiveVariance,
            Std = regression.Std,
            Interval = Interval(regression, level, method),
            Samples = regression.Samples,
            StandardError = regression.StandardError,
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
            StandardError = classes.StandardError,
        },
        _ => throw new InvalidOperationException($"unknown prediction {row.GetType().Name}"),
    };
}
