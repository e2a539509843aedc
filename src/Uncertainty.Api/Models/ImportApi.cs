using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Uncertainty.Api.Inference;
using Uncertainty.Api.OpenApi;
using Uncertainty.Api.Problems;
using Uncertainty.Api.Security;
using Uncertainty.Model.Data;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;

namespace Uncertainty.Api.Models;

/// <summary>
/// The "request" part of POST /models/{name}/import: the network the weights belong to and how raw inputs and
/// outputs are scaled. PyTorch users export with safetensors.torch.save_file(model.state_dict(), path).
/// </summary>
/// <param name="Network">The dropout network the weights fit (inputs, hidden widths, dropout rates, head).</param>
/// <param name="FeatureNames">One name per input; x0, x1, ... when omitted.</param>
/// <param name="OutputNames">One name per output (class labels for classifiers).</param>
/// <param name="InputMean">Subtracted from each raw input before the network (omitted: 0); for an image network one value per input or per channel (PyTorch's Normalize).</param>
/// <param name="InputStd">Divides each centred input (omitted: 1); for an image network one value per input or per channel.</param>
/// <param name="Image">An image network's picture preprocessing; omitted: PyTorch's ToTensor convention (pixels 0-1, light ink on dark, the network's channels and size).</param>
/// <param name="TargetMean">Regression: added back to the network's output (omitted: 0).</param>
/// <param name="TargetStd">Regression: multiplies the network's output (omitted: 1).</param>
/// <param name="MakeDefault">Make the imported version the model's default (it is loaded and checked first). A model's first version is its default either way.</param>
/// <param name="ReplaceSchema">Allow a version whose task, inputs or outputs differ from the model's current default (otherwise 409).</param>
/// <param name="Description">Stored with the model version and shown by GET /models/{name}.</param>
public sealed record ImportRequest(
    NetworkSpec? Network,
    IReadOnlyList<string>? FeatureNames = null,
    IReadOnlyList<string>? OutputNames = null,
    double[]? InputMean = null,
    double[]? InputStd = null,
    double[]? TargetMean = null,
    double[]? TargetStd = null,
    string? Description = null,
    bool MakeDefault = false,
    bool ReplaceSchema = false,
    ImageInput? Image = null);

/// <summary>The version an import created.</summary>
/// <param name="Name">The model's name.</param>
/// <param name="Version">The new version's number.</param>
/// <param name="MadeDefault">Whether the new version now serves by default.</param>
public sealed record ImportResponse(string Name, int Version, bool MadeDefault);

public static class ImportApi
{
    public static IEndpointRouteBuilder MapImportApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/models/{name}/import", Import)
            .WithTags("Models")
            .WithName("ImportModel")
            .WithDescription("Needs an administration key when keys are configured; 403 on a read-only replica. The network spec and the weights must fit each other (422 otherwise, with nothing imported); a spec over the resource limits is 422, an upload over the size limit 413, a version whose schema differs from the default without replaceSchema 409. The created version's URL is in Location.")
            .WithSummary("Import PyTorch-trained weights as safetensors (multipart: part 'weights' the .safetensors file, part 'request' the JSON network spec and scaling) as a new version. Pickle files (.pt, .pth, .pkl) are refused: loading them can run code.")
            .Accepts<ImportRequest>("multipart/form-data")
            .WithMultipartBody("weights", "The weights as a .safetensors file (safetensors.torch.save_file(model.state_dict(), path)).", fileRequired: true, RequestPart.Required)
            .DisableAntiforgery()
            .AcceptsUploads()
            .RequireAdminScope()
            .WritesToStore()
            .ProducesServiceProblems(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden, StatusCodes.Status409Conflict, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status422UnprocessableEntity, StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    /// <param name="name">The model to add a version to (created by its first import): 1-64 characters of a-z, 0-9, '.', '_' and '-'.</param>
    public static async Task<Created<ImportResponse>> Import(
        string name, HttpRequest http, ModelRegistry registry, InferenceScheduler queue, IOptions<UncertaintyOptions> options, CancellationToken cancellationToken)
    {
        if (!ModelStore.ValidName().IsMatch(name))
        {
            throw new RequestValidationException("name", $"Model names are 1-64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit ({ModelStore.NamePattern}).");
        }

        if (!http.HasFormContentType)
        {
            throw new UnsupportedMediaTypeException("Unsupported media type", "Send multipart/form-data: part 'weights' (a .safetensors file) and part 'request' (JSON).");
        }

        var form = await RequestBodies.ReadFormAsync(http, cancellationToken);
        if (form.Files.GetFile("weights") is not { } file)
        {
            throw new RequestValidationException("weights", "The 'weights' part (a .safetensors file) is missing.");
        }

        var request = form.TryGetValue("request", out var text)
            ? RequestBodies.Deserialize<ImportRequest>(http, text.ToString(), "request", "an import request")
            : null;
        if (request?.Network is null)
        {
            throw new RequestValidationException("request.network", "The 'request' part must give the network spec the weights belong to.");
        }

        using var weights = new MemoryStream();
        await file.CopyToAsync(weights, cancellationToken);
        try
        {
            SafetensorsImport.RejectPickle(weights.GetBuffer().AsSpan(0, (int)Math.Min(16, weights.Length)), file.FileName);
        }
        catch (InvalidDataException e)
        {
            throw new UnsupportedMediaTypeException("Pickle files are not accepted", e.Message);
        }

        ModelDescription description;
        try
        {
            description = Describe(request);
        }
        catch (ArgumentException e)
        {
            throw new RequestValidationException("request", e.Message);
        }

        // Before anything is allocated: a spec over the limits is refused here, in microseconds.
        ResourceGuards.Check(description.Network, options.Value);
        registry.CheckSchema(name, ModelSchema.Of(description), request.ReplaceSchema);

        try
        {
            // The header's claims are checked here, off the inference thread, before anything is allocated for them.
            weights.Position = 0;
            SafetensorsImport.CheckHeader(weights);
        }
        catch (InvalidDataException e)
        {
            throw new UnprocessableException("Weights cannot be imported", $"Nothing was imported. {e.Message}", e);
        }

        weights.Position = 0;
        ModelPackage package;
        try
        {
            // Not cancelled by the client going away: the package built on the owner thread must reach the using below.
            package = await queue.RunOnOwnerAsync(() => SafetensorsImport.Import(weights, description), CancellationToken.None);
        }
        catch (InvalidDataException e)
        {
            throw new UnprocessableException("Weights cannot be imported", $"Nothing was imported; the current versions keep serving. {e.Message}", e);
        }

        using (package)
        {
            var (version, madeDefault) = await registry.AddVersionAsync(name, package, request.MakeDefault, request.ReplaceSchema, cancellationToken);
            return TypedResults.Created($"/models/{name}", new ImportResponse(name, version, madeDefault));
        }
    }

    /// <summary>The package description; throws <see cref="ArgumentException"/> naming the field that does not fit.</summary>
    private static ModelDescription Describe(ImportRequest request)
    {
        var spec = request.Network!.Validate();
        var outputs = spec.Head.Outputs;
        Require(request.FeatureNames is null || request.FeatureNames.Count == spec.Inputs, $"featureNames needs {spec.Inputs} names, one per input.");
        Require(request.OutputNames is null || request.OutputNames.Count == outputs, $"outputNames needs {outputs} names, one per output.");
        Require(!spec.IsTokenSequence || (request.InputMean is null && request.InputStd is null), "inputMean and inputStd do not apply to token ids (an embedding network reads them as they are).");
        Require(request.FeatureNames is null || !spec.IsSequence, "featureNames do not apply to a sequence network: its rows are [steps][features] arrays or token ids.");
        var (inputMean, inputStd) = spec.IsImage ? (PerPixel(request.InputMean, spec), PerPixel(request.InputStd, spec))
            : spec.IsSequence ? (PerStep(request.InputMean, spec), PerStep(request.InputStd, spec))
            : (request.InputMean, request.InputStd);
        var inputScaling = Scaling(inputMean, inputStd, spec.Inputs, "input") ?? Standardizer.Identity(spec.Inputs);
        var image = spec.IsImage ? request.Image ?? new ImageInput(spec.InputShape![0], spec.InputShape[1], spec.InputShape[2], 1.0, ImageBackground.Dark) : null;
        Require(request.Image is null || spec.IsImage, "image applies to networks over a [channels, height, width] input only.");
        Require(request.FeatureNames is null || !spec.IsImage, "featureNames do not apply to an image network: its rows are pictures or [channels][height][width] arrays.");
        Require(image is null || (image.Channels == spec.InputShape![0] && image.Height == spec.InputShape[1] && image.Width == spec.InputShape[2] && image.PixelMax > 0 && double.IsFinite(image.PixelMax)),
            $"image must match the network's input [{string.Join(", ", spec.ResolvedInputShape)}] and have a positive pixelMax.");
        var targetScaling = Scaling(request.TargetMean, request.TargetStd, outputs, "target");
        Require(targetScaling is null || spec.Head.Kind != HeadKind.Classification, "targetMean and targetStd apply to regression only.");
        return new ModelDescription
        {
            Network = spec,
            InputScaling = inputScaling,
            TargetScaling = targetScaling,
            FeatureNames = request.FeatureNames,
            Image = image,
            OutputNames = request.OutputNames ?? (spec.Head.Kind == HeadKind.Classification ? [.. Enumerable.Range(0, outputs).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))] : ["y"]),
            Description = request.Description ?? "Imported from safetensors.",
        };
    }

    /// <summary>One value per channel (or a single value) repeated over the channel's pixels; anything else passes through to be checked.</summary>
    private static double[]? PerPixel(double[]? values, NetworkSpec spec)
    {
        int channels = spec.InputShape![0], plane = spec.InputShape[1] * spec.InputShape[2];
        return values is null || values.Length == spec.Inputs ? values
            : values.Length == 1 ? [.. Enumerable.Repeat(values[0], spec.Inputs)]
            : values.Length == channels ? [.. values.SelectMany(v => Enumerable.Repeat(v, plane))]
            : values;
    }

    /// <summary>A numeric sequence's scaling: one value per feature repeated at every step; anything else passes through to be checked.</summary>
    private static double[]? PerStep(double[]? values, NetworkSpec spec)
    {
        int steps = spec.ResolvedInputShape[0], features = spec.ResolvedInputShape[^1];
        return values is null || values.Length == spec.Inputs || values.Length != features || spec.IsTokenSequence ? values
            : [.. Enumerable.Range(0, steps).SelectMany(_ => values)];
    }

    private static Standardizer? Scaling(double[]? mean, double[]? std, int width, string what)
    {
        if (mean is null && std is null)
        {
            return null;
        }

        mean ??= new double[width];
        std ??= [.. Enumerable.Repeat(1.0, width)];
        Require(mean.Length == width && std.Length == width, $"{what}Mean and {what}Std need {width} values each.");
        Require(mean.All(double.IsFinite) && std.All(s => s > 0 && double.IsFinite(s)), $"{what}Mean must be finite and {what}Std positive.");
        return new Standardizer(mean, std);
    }

    private static void Require(bool condition, string problem)
    {
        if (!condition)
        {
            throw new ArgumentException(problem);
        }
    }
}
