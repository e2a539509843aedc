using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Uncertainty.Api.Inference;
using Uncertainty.Api.Models;
using Uncertainty.Api.OpenApi;
using Uncertainty.Api.Predictions;
using Uncertainty.Api.Problems;
using Uncertainty.Api.Security;
using Uncertainty.Model.Data;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;
using Uncertainty.Model.Text;
using Uncertainty.Model.Training;

namespace Uncertainty.Api.Training;

public static class TrainingJobsApi
{
    public static IEndpointRouteBuilder MapTrainingJobsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/training-jobs").WithTags("Training");
        group.MapPost("/", Submit)
            .WithName("SubmitTrainingJob")
            .WithDescription("Needs an administration key when keys are configured; 403 on a read-only replica. The request is checked (data, network, resource limits, schema) before the job is queued; the answer is 202 with the job and its URL in Location, to poll until its state is succeeded, failed or cancelled. A full job queue is 429 with Retry-After.")
            .WithSummary("Train a dropout network on a bundled dataset or CSV data (JSON body, or multipart: part 'data' the CSV file, part 'request' the JSON); 202 with the job's Location.")
            .Accepts<TrainingJobRequest>("application/json", "multipart/form-data")
            .WithMultipartBody("data", "CSV text with a header row, instead of csv or dataset in the request.", fileRequired: false, RequestPart.Required)
            .DisableAntiforgery()
            .AcceptsUploads()
            .RequireAdminScope()
            .WritesToStore()
            .ProducesServiceProblems(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden, StatusCodes.Status409Conflict, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status422UnprocessableEntity, StatusCodes.Status429TooManyRequests);
        group.MapGet("/", List).WithName("ListTrainingJobs").WithSummary("Every training job, newest first.")
            .WithDescription("Every job this service knows (queued, running and finished, persisted across restarts), newest first.");
        group.MapGet("/{id}", Get).WithName("GetTrainingJob").WithSummary("A job's state, epoch, losses, validation metric, learning curve, ETA and, once done, the model version it saved.")
            .WithDescription("Poll this until the state is succeeded, failed or cancelled; a succeeded job names the model version it saved.")
            .ProducesServiceProblems(StatusCodes.Status404NotFound);
        group.MapDelete("/{id}", Cancel).WithName("CancelTrainingJob").WithSummary("Cancel a job: a queued one at once, a running one after its current epoch.").RequireAdminScope().WritesToStore()
            .WithDescription("Needs an administration key when keys are configured. 202 with the job (cancelRequested true); 409 when it has already finished.")
            .ProducesServiceProblems(StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict);
        return app;
    }

    public static async Task<Accepted<TrainingJob>> Submit(
        HttpRequest http, TrainingJobRunner runner, ModelRegistry registry, IOptions<UncertaintyOptions> options, CancellationToken cancellationToken)
    {
        var request = await RequestBodies.ReadJsonOrFormAsync<TrainingJobRequest>(http, (r, csv) => r with { Csv = csv, Dataset = null }, "a training job", cancellationToken);
        var errors = Check(request, options.Value);
        if (errors.Count > 0)
        {
            throw new RequestValidationException(errors);
        }

        Dataset data;
        NetworkSpec spec;
        try
        {
            if (SequenceJobs.Handles(request.Dataset))
            {
                (data, spec) = SequenceJobs.Describe(request);
            }
            else
            {
                data = TrainingJobStore.Read(request);
                if (data.ClassLabels is { Count: < 2 } labels)
                {
                    throw new RequestValidationException("target", $"The target '{data.TargetName}' holds {labels.Count} class; a classifier needs at least 2 (a numeric target trains a regressor).");
                }

                spec = TrainingPipeline.Fitted((request.Network ?? new NetworkRequest()).ToSpec(data.Task), data);
                ModelDescription.CheckTokenIds(spec, data.Features, "data"); // refused now, not after the job has queued
            }
        }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or FormatException or FileNotFoundException)
        {
            var field = request.Csv is null ? "dataset" : "data";
            throw new RequestValidationException(e.Message.StartsWith("Network spec", StringComparison.Ordinal) ? "network" : field, e.Message);
        }

        // Checked before the job is queued: a spec over the limits or a schema change is refused now, not after training.
        var training = request.Training ?? new TrainingOptions();
        ResourceGuards.CheckTraining(spec, Math.Min(training.BatchSize, data.Rows), options.Value);
        if (training.MismatchWith(spec) is { } mismatch)
        {
            throw new RequestValidationException(training.Image is not null && training.Image.MismatchWith(spec) is not null ? "training.image" : "training", mismatch);
        }

        if (request.Tune is null && DefaultTuning(request, data, spec, training, options.Value) is { } defaultTune)
        {
            request = request with { Tune = defaultTune };
        }
        else if (request.Tune is { } tune)
        {
            if (TrainingPipeline.TuningProblem(data, spec, training, tune) is { } problem)
            {
                throw new RequestValidationException("tune", problem);
            }

            ResourceGuards.CheckTuning(spec, tune.Dropout.Count * tune.Tau.Count, Math.Min(training.BatchSize, data.Rows), options.Value);
        }

        var pictures = spec.IsImage ? ImageInput.For(spec, data.Features) : null;
        registry.CheckSchema(request.Model!, ModelSchema.For(spec, data.FeatureNames, data.ClassLabels ?? [data.TargetName], pictures), request.ReplaceSchema);
        var job = runner.Submit(request, data.Rows);
        return TypedResults.Accepted($"/training-jobs/{job.Id}", job);
    }

    public static Ok<IReadOnlyList<TrainingJob>> List(TrainingJobRunner runner) => TypedResults.Ok(runner.List());

    /// <param name="id">The training job's id, from the Location of POST /training-jobs.</param>
    public static Ok<TrainingJob> Get(string id, TrainingJobRunner runner) =>
        TypedResults.Ok(runner.Find(id) ?? throw NotFound(id));

    /// <param name="id">The training job's id, from the Location of POST /training-jobs.</param>
    public static Accepted<TrainingJob> Cancel(string id, TrainingJobRunner runner)
    {
        var existing = runner.Find(id) ?? throw NotFound(id);
        if (existing.Finished)
        {
            throw new ConflictException("Job finished", $"Job {id} has already finished ({existing.State.ToString().ToLowerInvariant()}).");
        }

        return TypedResults.Accepted($"/training-jobs/{id}", runner.Cancel(id)!);
    }

    /// <summary>Row passes (validation rows x samples) each grid point's score may take when tuning was not asked for.</summary>
    private const long DefaultTuningScoreBudget = 10_000_000;

    /// <summary>
    /// The grid a regression job tunes on when its network states no dropout rate and no tau (Gal and Ghahramani choose both
    /// per data set); null when the job states one, is not a tabular regression MLP, or the grid cannot run here.
    /// </summary>
    private static TuneOptions? DefaultTuning(TrainingJobRequest request, Dataset data, NetworkSpec spec, TrainingOptions training, UncertaintyOptions limits)
    {
        if (SequenceJobs.Handles(request.Dataset) || request.Network is { Layers: not null } or { StatesDropoutOrTau: true } or { Heteroscedastic: true })
        {
            return null;
        }

        // Scoring costs validation rows x samples per point: a large upload is scored with fewer passes (at least 100).
        var tune = new TuneOptions();
        long validationRows = Math.Max(1, (long)(data.Rows * tune.ValidationFraction));
        tune = tune with { Samples = (int)Math.Clamp(DefaultTuningScoreBudget / validationRows, 100, tune.Samples) };
        int points = tune.Dropout.Count * tune.Tau.Count;
        return TrainingPipeline.TuningProblem(data, spec, training, tune) is null
               && ResourceGuards.TuningViolation(spec, points, Math.Min(training.BatchSize, data.Rows), limits) is null
            ? tune
            : null;
    }

    private static Dictionary<string, string[]> Check(TrainingJobRequest request, UncertaintyOptions options)
    {
        var errors = new Dictionary<string, string[]>();
        if (request.Model is null || !ModelStore.ValidName().IsMatch(request.Model))
        {
            errors["model"] = [$"Name the model to train: 1-64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit ({ModelStore.NamePattern})."];
        }

        if ((request.Dataset is null) == (request.Csv is null))
        {
            errors["dataset"] = [$"Give either a named dataset ({string.Join(", ", TrainingJobStore.DatasetNames)}) or CSV data, not both or neither."];
        }

        if (request.MaxVocabulary is { } vocabulary && (request.Dataset != SequenceDatasets.SpamAssassin || vocabulary < 1 || vocabulary > WordTokenizer.MaxVocabulary))
        {
            errors["maxVocabulary"] = [$"maxVocabulary applies to dataset spam-assassin, from 1 to {WordTokenizer.MaxVocabulary:N0}."];
        }

        if (request.Horizon is { } horizon && (request.Dataset != SequenceDatasets.UsBirths || horizon < 1 || horizon > 366))
        {
            errors["horizon"] = ["horizon applies to dataset us-births, from 1 to 366 days."];
        }

        if (request.TestFraction is { } fraction && (!(fraction > 0 && fraction < 1) || SequenceJobs.Handles(request.Dataset)))
        {
            errors["testFraction"] = ["testFraction is a share of the rows in (0, 1) to hold out; spam-assassin and us-births hold out their own test part."];
        }

        if (request.Training is { } training)
        {
            if (training.Epochs > options.MaxTrainingEpochs)
            {
                errors["training.epochs"] = [$"At most {options.MaxTrainingEpochs} epochs; got {training.Epochs}."];
            }

            Seeds.Check(training.Seed, "training.seed", errors);
            try
            {
                training.Validate();
            }
            catch (ArgumentException e)
            {
                errors["training"] = [e.Message];
            }
        }

        if (request.Tune is { } tune)
        {
            try
            {
                tune.Validate();
            }
            catch (ArgumentException e)
            {
                errors["tune"] = [e.Message];
            }

            if (SequenceJobs.Handles(request.Dataset))
            {
                errors["tune"] = ["tune applies to tabular regression data; spam-assassin and us-births train their own networks."];
            }
        }

        // A layer list is checked once fitted to the data (its input shape and head come from it); the MLP shorthand here already.
        if (request.Network is { Layers: null } network)
        {
            try
            {
                network.ToSpec(TaskKind.Regression).Validate();
            }
            catch (ArgumentException e)
            {
                errors["network"] = [e.Message];
            }
        }

        return errors;
    }

    private static NotFoundException NotFound(string id) => new("Training job not found", $"There is no training job '{id}'.");
}
