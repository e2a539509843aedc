using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Uncertainty.Api.Inference;
using Uncertainty.Api.OpenApi;
using Uncertainty.Api.Problems;
using Uncertainty.Api.Models;
using Uncertainty.Api.Predictions;
using Uncertainty.Api.Security;
using Uncertainty.Model.Data;
using Uncertainty.Model.Evaluation;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;

namespace Uncertainty.Api.Evaluation;

/// <summary>
/// POST /models/{name}/evaluate body: labelled rows from a bundled dataset, CSV text with a header (or a
/// multipart upload: part "data" the file, part "request" this JSON), or inline inputs with targets.
/// CSV and dataset columns are matched to the model's features by name.
/// </summary>
/// <param name="Dataset">A bundled dataset with the model's feature columns.</param>
/// <param name="Csv">CSV text with a header naming the model's features and the target.</param>
/// <param name="Target">The target column; the model's output name when omitted.</param>
/// <param name="Inputs">Rows as in /predict (arrays in feature order, or objects keyed by feature name).</param>
/// <param name="Targets">One target per input row: a number (regression) or a class label (classification).</param>
/// <param name="Samples">T, the MC passes per row.</param>
/// <param name="Seed">Seeds the dropout masks (fixed by default, so scores are repeatable).</param>
/// <param name="Version">The version to score; the default version when omitted.</param>
/// <param name="OodDataset">Also score out-of-distribution detection against this image dataset's test split (e.g. fashion-mnist for an MNIST classifier).</param>
/// <param name="MaxRows">Score at most this many rows of each dataset (the first ones).</param>
/// <param name="Rows">heldOut: only the rows held out when the model was trained (the default on its own training data, named or the same CSV); all: every row, training rows included (the default on any other data).</param>
public sealed record EvaluateRequest(
    string? Dataset = null,
    string? Csv = null,
    string? Target = null,
    JsonElement[]? Inputs = null,
    JsonElement[]? Targets = null,
    int? Samples = null,
    ulong? Seed = null,
    int? Version = null,
    string? OodDataset = null,
    int? MaxRows = null,
    EvaluationRows? Rows = null);

/// <summary>MC dropout and weight scaling side by side on the same rows; with an OOD dataset, detection and selective-prediction scores.</summary>
/// <param name="Data">Which rows were scored: the dataset and split, "upload" or "inputs".</param>
/// <param name="Model">The model scored.</param>
/// <param name="Report">MC dropout and weight-scaling scores on the same rows.</param>
/// <param name="Version">The model version scored.</param>
public sealed record EvaluateResponse(string Model, int Version, string Data, EvaluationReport Report)
{
    /// <summary>Which rows were scored (held-out or all), how many of how many, their indices, and why those.</summary>
    public required ScoredRows Scored { get; init; }

    /// <summary>With oodDataset: OOD detection and selective-prediction scores; omitted otherwise.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public OodEvaluationReport? OutOfDistribution { get; init; }
}

public static class EvaluationApi
{
    private const int DefaultSamples = 100;
    private const ulong DefaultSeed = 0;

    public static IEndpointRouteBuilder MapEvaluationApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/models/{name}/evaluate", Evaluate)
            .WithTags("Models")
            .WithName("EvaluateModel")
            .WithDescription("JSON, or multipart form data with the CSV in part 'data' and this JSON in part 'request'. Needs an inference or administration key when keys are configured. Work over Uncertainty:EvaluationTimeoutSeconds is stopped (504); a full queue is 429 with Retry-After.")
            .WithSummary("Score a model on labelled rows: RMSE, MAE, Gal & Ghahramani's test log-likelihood and interval coverage for regressors; accuracy, NLL, Brier, ECE and reliability bins for classifiers; MC dropout beside weight scaling. On the model's own training data (the dataset it names, or the same CSV) only the rows held out at training are scored unless rows is all; the response's scored says which rows and why. Runs in bounded pieces between other predictions, within Uncertainty:EvaluationTimeoutSeconds.")
            .Accepts<EvaluateRequest>("application/json", "multipart/form-data")
            .WithMultipartBody("data", "CSV text with a header row naming the model's features and the target, instead of csv, dataset or inputs in the request.", fileRequired: false, RequestPart.Optional)
            .DisableAntiforgery()
            .AcceptsUploads()
            .RequireEvaluationScope()
            .ProducesServiceProblems(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status422UnprocessableEntity, StatusCodes.Status429TooManyRequests, StatusCodes.Status503ServiceUnavailable, StatusCodes.Status504GatewayTimeout);
        return app;
    }

    /// <param name="name">The model's name (GET /models lists them).</param>
    public static async Task<Ok<EvaluateResponse>> Evaluate(
        string name, HttpRequest http, PredictionService predictions, IOptions<UncertaintyOptions> options, CancellationToken cancellationToken)
    {
        var request = await RequestBodies.ReadJsonOrFormAsync<EvaluateRequest>(http, (r, csv) => r with { Csv = csv }, "an evaluation request", cancellationToken);
        using var lease = await predictions.AcquireAsync(name, request.Version, cancellationToken);
        var version = lease.Version;
        var model = version.Description;
        var limits = options.Value;
        if (request.Samples is { } samples && (samples < 1 || samples > limits.MaxSamples))
        {
            throw new RequestValidationException("samples", $"samples must be between 1 and {limits.MaxSamples}; got {samples}.");
        }

        if (request.MaxRows is < 1 || (request.OodDataset is not null && request.MaxRows is < 2))
        {
            throw new RequestValidationException("maxRows", $"maxRows must be at least 1 (2 with oodDataset: the selective-prediction curve needs two rows); got {request.MaxRows}.");
        }

        var (data, scored, errors) = Rows(request, model, limits);
        Seeds.Check(request.Seed, "seed", errors);
        if (errors.Count > 0)
        {
            throw new RequestValidationException(errors);
        }

        Dataset? ood = null;
        if (request.OodDataset is { } oodName)
        {
            ood = Limit(OutOfDistributionRows(oodName, model), request.MaxRows);
            if (ood.Rows > limits.MaxEvaluationRows)
            {
                throw new RequestValidationException("oodDataset", $"At most {limits.MaxEvaluationRows} rows per evaluation; {ood.Name} has {ood.Rows} (set maxRows).");
            }
        }

        if (ood is not null && data!.Rows < 2)
        {
            throw new RequestValidationException("dataset", "OOD scores need at least 2 in-distribution rows (the selective-prediction curve is undefined for one).");
        }

        var count = request.Samples ?? DefaultSamples;
        var seed = request.Seed ?? DefaultSeed;
        var limit = TimeSpan.FromSeconds(limits.EvaluationTimeoutSeconds);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (mc, deterministic) = await PredictRowsAsync(predictions, version, data!, count, seed, limit, clock, cancellationToken);
        if (data!.Targets.Any(t => !float.IsFinite(t)))
        {
            throw new RequestValidationException("target", "Every target must be a finite number within single-precision range.");
        }

        var response = new EvaluateResponse(name, version.Version, data.Name, Evaluator.Score(model, data, mc, deterministic, count)) { Scored = scored! };
        if (ood is not null)
        {
            var (oodMc, oodDeterministic) = await PredictRowsAsync(predictions, version, ood, count, seed, limit, clock, cancellationToken);
            response = response with
            {
                OutOfDistribution = OodEvaluator.Score(data, ood, count, [.. mc.Cast<ClassPrediction>()], [.. deterministic.Cast<ClassPrediction>()], [.. oodMc.Cast<ClassPrediction>()], [.. oodDeterministic.Cast<ClassPrediction>()]),
            };
        }

        return TypedResults.Ok(response);
    }

    /// <summary>MC and deterministic predictions (reported units) for every row; each batch is its own queued job, so predictions run between them.</summary>
    private static async Task<(List<RowPrediction> Mc, List<RowPrediction> Deterministic)> PredictRowsAsync(
        PredictionService predictions, LoadedVersion version, Dataset data, int samples, ulong seed, TimeSpan limit, System.Diagnostics.Stopwatch clock, CancellationToken cancellationToken)
    {
        var model = version.Description;
        var mc = new List<RowPrediction>(data.Rows);
        var deterministic = new List<RowPrediction>(data.Rows);
        try
        {
            foreach (var (start, rows) in Evaluator.Batches(data.Rows))
            {
                var inputs = model.PrepareInputs(data.Features.AsSpan(start * data.Columns, rows * data.Columns));
                var batch = Evaluator.Request(model, inputs, rows, samples, seed);
                mc.AddRange(model.ToReportedUnits(await predictions.RunAsync(version, batch, PassMode.MonteCarlo, Remaining(limit, clock), cancellationToken)).Rows);
                deterministic.AddRange(model.ToReportedUnits(await predictions.RunAsync(version, batch, PassMode.Deterministic, Remaining(limit, clock), cancellationToken)).Rows);
            }
        }
        catch (WorkTimeoutException)
        {
            throw new WorkTimeoutException($"The evaluation did not finish within {limit.TotalSeconds:0.###} s (Uncertainty:EvaluationTimeoutSeconds) and was stopped after {mc.Count} of {data.Rows} rows of {data.Name}; ask for fewer rows or samples.");
        }

        if (mc.Concat(deterministic).Select((row, i) => (row, i)).FirstOrDefault(r => !PredictionService.Finite(r.row)) is { row: not null } bad)
        {
            throw new NonFiniteOutputException($"The model's output is not finite (NaN or infinity) for row {bad.i % data.Rows} of {data.Name}; its inputs are outside the range the model can represent, so the scores cannot be computed.");
        }

        return (mc, deterministic);
    }

    /// <summary>The test split of an image dataset whose pictures fit the model: the rows an OOD score compares against.</summary>
    private static Dataset OutOfDistributionRows(string name, ModelDescription model)
    {
        if (model.Network.Head.Kind != HeadKind.Classification)
        {
            throw new RequestValidationException("oodDataset", "Out-of-distribution scores need a classifier (entropy and mutual information of class probabilities).");
        }

        return ImageRows(name, model, "oodDataset")
            ?? throw new RequestValidationException("oodDataset", $"'{name}' is not an image dataset of the model's shape; give one of {string.Join(", ", ImageDatasets.All.Select(d => d.Name))} that matches [{string.Join(", ", model.Network.ResolvedInputShape)}].");
    }

    /// <summary>The first <paramref name="maxRows"/> rows of <paramref name="data"/>, named so.</summary>
    private static Dataset Limit(Dataset data, int? maxRows) =>
        maxRows is { } most && most < data.Rows ? data.Take(most) with { Name = $"{data.Name}, first {most} rows" } : data;

    /// <summary>A split (the test split unless told) of a named image dataset for an image model; null when either is not an image.</summary>
    private static Dataset? ImageRows(string name, ModelDescription model, string field, ImageSplit split = ImageSplit.Test)
    {
        if (!model.Network.IsImage || ImageDatasets.All.FirstOrDefault(d => d.Name == name) is not { } info)
        {
            return null;
        }

        var shape = model.Network.InputShape!;
        if (info.Channels != shape[0] || info.Height != shape[1] || info.Width != shape[2])
        {
            throw new RequestValidationException(field, $"{name} holds {info.Channels}x{info.Height}x{info.Width} pictures; the model reads [{string.Join(", ", shape)}].");
        }

        try
        {
            // In the model's pixel units (e.g. 0-1 for a PyTorch import, 0-255 for MNIST itself).
            var images = ImageDatasets.Load(name, split);
            var image = model.Image ?? new ImageInput(shape[0], shape[1], shape[2], images.PixelMax, ImageInput.BackgroundOf(images.Pixels, images.PixelMax));
            return image.RowsOf(images) with { Name = $"{name} ({split.ToString().ToLowerInvariant()} split)" };
        }
        catch (Exception e) when (e is FileNotFoundException or InvalidDataException)
        {
            throw new RequestValidationException(field, e.Message);
        }
    }

    private static TimeSpan Remaining(TimeSpan limit, System.Diagnostics.Stopwatch clock) =>
        limit - clock.Elapsed is { Ticks: > 0 } left ? left : throw new WorkTimeoutException("The evaluation ran out of time.");

    /// <summary>
    /// The labelled rows the request names, with the model's feature order and label order: on the model's own training data
    /// (by name or CSV content) only its held-out rows unless all are asked for (<see cref="ScoredRows.Select"/>).
    /// </summary>
    private static (Dataset? Data, ScoredRows? Scored, Dictionary<string, string[]> Errors) Rows(EvaluateRequest request, ModelDescription model, UncertaintyOptions limits)
    {
        var errors = new Dictionary<string, string[]>();
        var sources = new[] { request.Dataset is not null, request.Csv is not null, request.Inputs is not null }.Count(given => given);
        if (sources != 1)
        {
            errors["dataset"] = ["Give exactly one of: a bundled dataset, CSV data, or inputs with targets."];
            return (null, null, errors);
        }

        var features = model.FeatureNames ?? [.. Enumerable.Range(0, model.Network.Inputs).Select(i => $"x{i}")];
        var classifier = model.Network.Head.Kind == HeadKind.Classification;
        var outputName = model.OutputNames is { Count: > 0 } outputs ? outputs[0] : null;
        Dataset data;
        ScoredRows scored;
        if (request.Inputs is { } inputs)
        {
            if (request.Targets is null || request.Targets.Length != inputs.Length)
            {
                errors["targets"] = [$"Give one target per input row ({inputs.Length})."];
                return (null, null, errors);
            }

            var (rowErrors, values) = PredictRequestValidator.Validate(new PredictRequest(inputs), model, limits);
            if (rowErrors.Count > 0)
            {
                return (null, null, rowErrors);
            }

            if (request.Rows == EvaluationRows.HeldOut)
            {
                errors["rows"] = ["Held-out rows are known only in the model's training data, named (dataset) or uploaded (the same CSV); inline rows are scored all."];
                return (null, null, errors);
            }

            var targets = new float[inputs.Length];
            for (int i = 0; i < targets.Length; i++)
            {
                var target = request.Targets[i];
                if (classifier && target.ValueKind == JsonValueKind.String && !PredictRequestValidator.TryGetString(target, out _))
                {
                    errors[$"targets[{i}]"] = [PredictRequestValidator.InvalidUnicode("The class label")];
                }
                else if (classifier && target.ValueKind is JsonValueKind.String or JsonValueKind.Number)
                {
                    var label = target.ValueKind == JsonValueKind.String ? target.GetString()! : target.GetRawText();
                    var index = model.OutputNames?.ToList().IndexOf(label) ?? -1;
                    if (index < 0)
                    {
                        errors[$"targets[{i}]"] = [$"Unknown class '{label}'; the model's classes are {string.Join(", ", model.OutputNames ?? [])}."];
                    }

                    targets[i] = index;
                }
                else if (!classifier && target.ValueKind == JsonValueKind.Number && target.TryGetDouble(out var number) && double.IsFinite(number) && Math.Abs(number) <= float.MaxValue)
                {
                    targets[i] = (float)number;
                }
                else
                {
                    errors[$"targets[{i}]"] = [classifier ? "A class label (string or number)." : "A finite number within single-precision range."];
                }
            }

            data = new Dataset("inputs", features, values, outputName ?? "y", targets, classifier ? model.OutputNames : null);
            scored = new ScoredRows(EvaluationRows.All, data.Rows, data.Rows, false, $"rows given inline: all {data.Rows} (held-out rows are known only in a named dataset or an uploaded CSV)", RowRanges.Format(Enumerable.Range(0, data.Rows)));
        }
        else if (request.Dataset is { } imageName && model.Network.IsImage && ImageDatasets.All.Any(d => d.Name == imageName))
        {
            (data, scored) = ImageSelection(imageName, model, request.Rows);
            if (classifier && Relabel(data, model.OutputNames ?? [], errors) is { } relabelled)
            {
                data = relabelled;
            }
        }
        else
        {
            var csvOptions = new CsvOptions
            {
                Target = request.Target ?? (classifier ? null : outputName) ?? "-1",
                Features = features,
                Task = classifier ? TaskKind.Classification : TaskKind.Regression,
            };
            try
            {
                if (request.Csv is { } csv)
                {
                    using var reader = new StringReader(csv);
                    data = CsvLoader.Load(reader, "upload", csvOptions);
                }
                else
                {
                    data = BundledDatasets.Load(request.Dataset!, request.Target ?? (classifier ? null : outputName), features, csvOptions.Task);
                }
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or FormatException)
            {
                errors[request.Csv is null ? "dataset" : "data"] = [e.Message];
                return (null, null, errors);
            }

            try
            {
                // A text model's rows are token ids: checked here, so a bad id is a 400 and never reaches the embedding.
                ModelDescription.CheckTokenIds(model.Network, data.Features, "data");
            }
            catch (ArgumentException e)
            {
                errors[request.Csv is null ? "dataset" : "data"] = [e.Message];
                return (null, null, errors);
            }

            scored = Select(model, request.Dataset, request.Csv is { } text ? TrainingData.HashOf(text) : null, data.Rows, request.Rows);
            if (scored.Rows == EvaluationRows.HeldOut)
            {
                data = data.Subset(scored.IndexList());
            }

            if (classifier && Relabel(data, model.OutputNames ?? [], errors) is { } relabelled)
            {
                data = relabelled;
            }
        }

        data = Limit(data, request.MaxRows);
        scored = scored.Take(request.MaxRows);

        if (data.Rows > limits.MaxEvaluationRows)
        {
            errors["dataset"] = [$"At most {limits.MaxEvaluationRows} rows per evaluation; got {data.Rows} (set maxRows)."];
        }

        return (data, scored, errors);
    }

    /// <summary><see cref="ScoredRows.Select"/> for the model, with a request it cannot satisfy as a 400 naming rows.</summary>
    private static ScoredRows Select(ModelDescription model, string? dataset, string? sha256, int rows, EvaluationRows? asked)
    {
        try
        {
            return ScoredRows.Select(model.TrainingData, dataset, sha256, rows, asked);
        }
        catch (ArgumentException e)
        {
            throw new RequestValidationException("rows", e.Message);
        }
    }

    /// <summary>
    /// An image set's rows for an image model: on the model's own training set, its held-out rows (for a model trained on the
    /// training split, the test split) or all of them; on another image set, its test split, as before splits were recorded.
    /// </summary>
    private static (Dataset Data, ScoredRows Scored) ImageSelection(string name, ModelDescription model, EvaluationRows? asked)
    {
        var (rows, test) = ImageDatasets.RowsOf(name, ImageSplit.Test);
        if (model.TrainingData is { } record && record.Identifies(name, null))
        {
            var scored = Select(model, name, null, rows, asked);
            var indices = scored.IndexList();
            var data = indices.SequenceEqual(test)
                ? ImageRows(name, model, "dataset", ImageSplit.Test)!
                : ImageRows(name, model, "dataset", ImageSplit.All)!.Subset(indices) with { Name = $"{name} ({(scored.Rows == EvaluationRows.HeldOut ? "held-out rows" : "all")})" };
            return (data, scored);
        }

        var testRows = ImageRows(name, model, "dataset", ImageSplit.Test)!;
        if (asked == EvaluationRows.HeldOut)
        {
            _ = Select(model, name, null, rows, asked); // says why there are none
        }

        var why = model.TrainingData is { } other ? $"not the model's training data ({other.Describe()})" : "no held-out split recorded";
        return (testRows, new ScoredRows(EvaluationRows.All, testRows.Rows, testRows.Rows, false, $"{why}: all {testRows.Rows} rows of {name}'s test split", RowRanges.Format(Enumerable.Range(0, testRows.Rows))));
    }

    /// <summary>The data's labels as indices into the model's classes (the data may hold fewer classes, in another order).</summary>
    private static Dataset? Relabel(Dataset data, IReadOnlyList<string> classes, Dictionary<string, string[]> errors)
    {
        var map = data.ClassLabels!.Select(label => classes.ToList().IndexOf(label)).ToArray();
        var unknown = data.ClassLabels!.Where((_, i) => map[i] < 0).ToList();
        if (unknown.Count > 0)
        {
            errors["target"] = [$"Class{(unknown.Count > 1 ? "es" : "")} {string.Join(", ", unknown)} unknown to the model; its classes are {string.Join(", ", classes)}."];
            return null;
        }

        return data with { Targets = [.. data.Targets.Select(t => (float)map[(int)t])], ClassLabels = classes };
    }
}
