using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Uncertainty.Api.Inference;
using Uncertainty.Api.Observability;
using Uncertainty.Api.Problems;
using Uncertainty.Model.Data;
using Uncertainty.Model.Native;
using Uncertainty.Model.Packaging;
using Uncertainty.Model.Training;
using static TorchSharp.torch;

namespace Uncertainty.Api.Training;

/// <summary>
/// Runs training jobs in the background, at most <see cref="UncertaintyOptions.MaxConcurrentTrainingJobs"/>
/// at a time, each on its own thread. State is persisted at every transition and about once a second
/// while running. On start, queued jobs are queued again and a job still marked running (the process died
/// under it) is marked failed with that reason; a graceful stop puts running jobs back in the queue.
/// A finished job saves a new model version and, when asked, makes it the default.
/// </summary>
public sealed partial class TrainingJobRunner(
    IOptions<UncertaintyOptions> options,
    TrainingJobStore jobStore,
    ModelRegistry registry,
    ServiceMetrics metrics,
    ILogger<TrainingJobRunner> logger) : BackgroundService
{
    private static readonly TimeSpan PersistInterval = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<string, Entry> jobs = new();
    private readonly Channel<string> queue = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleWriter = false });
    private int queued;

    public IReadOnlyList<TrainingJob> List() => [.. jobs.Values.Select(e => e.Job).OrderByDescending(j => j.Id, StringComparer.Ordinal)];

    public TrainingJob? Find(string id) => jobs.TryGetValue(id, out var entry) ? entry.Job : null;

    /// <summary>Persists and queues a job for <paramref name="request"/>, whose rows (<paramref name="rows"/>) were already checked.</summary>
    public TrainingJob Submit(TrainingJobRequest request, int rows)
    {
        var capacity = options.Value.MaxQueuedTrainingJobs;
        if (Interlocked.Increment(ref queued) > capacity)
        {
            Interlocked.Decrement(ref queued);
            throw new QueueFullException($"{capacity} training jobs are already waiting; retry when one has started.", retryAfterSeconds: 30);
        }

        var job = new TrainingJob
        {
            Id = TrainingJobStore.NewId(),
            Model = request.Model!,
            Data = request.Csv is null ? request.Dataset! : "upload",
            Rows = rows,
            CreatedAt = DateTimeOffset.UtcNow,
            Epochs = (request.Training ?? new TrainingOptions()).Epochs,
        };
        jobStore.Create(job, request);
        jobs[job.Id] = new Entry(job, request with { Csv = null });
        queue.Writer.TryWrite(job.Id);
        metrics.TrainingJobSubmitted();
        Log.Submitted(logger, job.Id, job.Model, job.Data, rows);
        return job;
    }

    /// <summary>Cancels a job: a queued one at once, a running one after its current epoch. Null if unknown.</summary>
    public TrainingJob? Cancel(string id)
    {
        if (!jobs.TryGetValue(id, out var entry))
        {
            return null;
        }

        lock (entry)
        {
            if (entry.Job.Finished)
            {
                return entry.Job;
            }

            entry.Cancellation.Cancel();
            if (entry.Job.State == JobState.Queued)
            {
                Interlocked.Decrement(ref queued); // its place in the queue is free at once
            }

            Update(entry, job => job.State == JobState.Queued
                ? job with { State = JobState.Cancelled, CancelRequested = true, FinishedAt = DateTimeOffset.UtcNow }
                : job with { CancelRequested = true }, persist: true);
            return entry.Job;
        }
    }

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.ReadOnlyStore)
        {
            return Task.CompletedTask; // jobs belong to the writer
        }

        foreach (var (job, request) in jobStore.LoadAll((path, reason) => Log.Unreadable(logger, path, reason)))
        {
            var entry = new Entry(job, request);
            jobs[job.Id] = entry;
            if (job.State == JobState.Running)
            {
                Update(entry, j => j with
                {
                    State = JobState.Failed,
                    FinishedAt = DateTimeOffset.UtcNow,
                    Error = $"The service stopped while this job was running (started {j.StartedAt:u}, epoch {j.Epoch} of {j.Epochs}); submit it again.",
                }, persist: true);
                Log.MarkedFailed(logger, job.Id);
            }
            else if (job.State == JobState.Queued)
            {
                Interlocked.Increment(ref queued);
                queue.Writer.TryWrite(job.Id);
            }
        }

        return base.StartAsync(cancellationToken);
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(Enumerable.Range(0, options.Value.MaxConcurrentTrainingJobs).Select(_ => Task.Run(() => ServeAsync(stoppingToken), CancellationToken.None)));

    private async Task ServeAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var id in queue.Reader.ReadAllAsync(stoppingToken))
            {
                var entry = jobs[id];
                if (!Claim(entry))
                {
                    continue; // cancelled while it waited (its queue place was given back then)
                }

                // A dedicated thread: training is long, CPU-bound native work. Nothing one job does may stop the runner.
                try
                {
                    await Task.Factory.StartNew(() => Run(entry, stoppingToken), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Log.RunnerError(logger, entry.Job.Id, e);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private void Run(Entry entry, CancellationToken stoppingToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(entry.Cancellation.Token, stoppingToken);
        metrics.TrainingJobStarted();
        var request = entry.Request;
        var clock = Stopwatch.StartNew();

        // A root span of its own: the job outlives the request that submitted it.
        using var span = Telemetry.Source.StartActivity(Telemetry.Spans.TrainingJob, ActivityKind.Internal, parentContext: default)
            ?.SetTag(Telemetry.Attributes.Job, entry.Job.Id)
            .SetTag(Telemetry.Attributes.Model, request.Model)
            .SetTag(Telemetry.Attributes.Epochs, entry.Job.Epochs);
        try
        {
            var device = TorchBackend.ResolveDevice(TorchBackend.ParsePreference(options.Value.Device));
            var progress = new Reporter(this, entry);
            var description = request.Description ?? $"Trained by job {entry.Job.Id} on {entry.Job.Data}.";
            using var package = SequenceJobs.Handles(request.Dataset)
                ? SequenceJobs.Fit(request, request.Training ?? new TrainingOptions(), device, progress, description, linked.Token)
                : FitTable(jobStore.LoadData(entry.Job.Id, request), jobStore, entry.Job.Id, request, device, progress, description, linked.Token);
            var (version, madeDefault) = registry.AddVersionAsync(request.Model!, package, request.MakeDefault, request.ReplaceSchema, CancellationToken.None).GetAwaiter().GetResult();

            Finish(entry, job => job with { State = JobState.Succeeded, Version = version, MadeDefault = madeDefault });
            Log.Succeeded(logger, entry.Job.Id, request.Model!, version, clock.Elapsed.TotalSeconds);
        }
        catch (OperationCanceledException) when (entry.Cancellation.IsCancellationRequested)
        {
            Finish(entry, job => job with { State = JobState.Cancelled });
            Log.Cancelled(logger, entry.Job.Id);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // A graceful stop: the job starts again, from the beginning, on the next start.
            Update(entry, job => job with { State = JobState.Queued, StartedAt = null, Epoch = 0, History = [] }, persist: true);
            metrics.TrainingJobFinished(JobState.Queued);
            Log.Requeued(logger, entry.Job.Id);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Finish(entry, job => job with { State = JobState.Failed, Error = e is ServiceException ? e.Message : jobStore.Redact(e.Message) });
            span?.SetStatus(ActivityStatusCode.Error, entry.Job.Error);
            Log.Failed(logger, entry.Job.Id, e);
        }
        finally
        {
            span?.SetTag(Telemetry.Attributes.State, entry.Job.State.ToString().ToLowerInvariant())
                .SetTag(Telemetry.Attributes.Version, entry.Job.Version);
        }
    }

    private static ModelPackage FitTable(Dataset data, TrainingJobStore store, string id, TrainingJobRequest request, Device device, IProgress<TrainingProgress> progress, string description, CancellationToken cancellationToken) =>
        TrainingPipeline.FitHoldingOut(data, store.SourceOf(id, request, data.Rows), request.TestFraction, (request.Network ?? new NetworkRequest()).ToSpec(data.Task), request.Training ?? new TrainingOptions(), device, progress, description, request.Tune, cancellationToken);

    /// <summary>Queued to running, atomically with respect to <see cref="Cancel"/>; false when the job is no longer queued.</summary>
    private bool Claim(Entry entry)
    {
        lock (entry)
        {
            if (entry.Job.State != JobState.Queued)
            {
                return false;
            }

            Interlocked.Decrement(ref queued);
            Update(entry, job => job with { State = JobState.Running, StartedAt = DateTimeOffset.UtcNow }, persist: true);
            return true;
        }
    }

    private void Finish(Entry entry, Func<TrainingJob, TrainingJob> change)
    {
        Update(entry, job => change(job) is var done && done.State == JobState.Succeeded
            ? done with { FinishedAt = DateTimeOffset.UtcNow, EtaSeconds = 0 }
            : done with { FinishedAt = DateTimeOffset.UtcNow, EtaSeconds = null }, persist: true);
        metrics.TrainingJobFinished(entry.Job.State);
    }

    private void Update(Entry entry, Func<TrainingJob, TrainingJob> change, bool persist)
    {
        lock (entry)
        {
            entry.Job = change(entry.Job);
            if (persist || entry.SinceSaved.Elapsed >= PersistInterval)
            {
                jobStore.Save(entry.Job);
                entry.SinceSaved.Restart();
            }
        }
    }

    private sealed class Entry(TrainingJob job, TrainingJobRequest request)
    {
        public TrainingJob Job { get; set; } = job;

        public TrainingJobRequest Request { get; } = request;

        public CancellationTokenSource Cancellation { get; } = new();

        public Stopwatch SinceSaved { get; } = Stopwatch.StartNew();
    }

    /// <summary>Called on the training thread after every epoch.</summary>
    /// <summary>Called on the training thread after every epoch; a loss that is no longer finite ends the job (it cannot recover, and JSON has no NaN).</summary>
    private sealed class Reporter(TrainingJobRunner runner, Entry entry) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            if (!double.IsFinite(value.TrainLoss))
            {
                throw new TrainingDivergedException($"Training diverged: the training loss is {value.TrainLoss} at epoch {value.Epoch}; lower the learning rate or standardise the data.");
            }

            var validationLoss = Finite(value.ValidationLoss);
            var validationMetric = Finite(value.ValidationMetric);
            var point = new EpochPoint(value.Epoch, value.TrainLoss, validationLoss, validationMetric);
            runner.Update(entry, job => job with
            {
                Epoch = value.Epoch,
                Epochs = value.Epochs,
                TrainLoss = value.TrainLoss,
                ValidationLoss = validationLoss,
                ValidationMetric = validationMetric,
                MetricName = validationMetric is null ? null : value.MetricName,
                ElapsedSeconds = value.Elapsed.TotalSeconds,
                EtaSeconds = Finite(value.EstimatedRemaining.TotalSeconds),
                // A tuned job reports its grid's epochs, then the final training's from epoch 1: the curve is the current phase's.
                History = value.Epoch <= job.Epoch ? [point] : [.. job.History, point],
            }, persist: false);
        }

        private static double? Finite(double? value) => value is { } v && double.IsFinite(v) ? v : null;
    }

    private sealed class TrainingDivergedException(string message) : Exception(message);

    private static partial class Log
    {
        [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Training job {Id} queued: model {Model} on {Data} ({Rows} rows)")]
        public static partial void Submitted(ILogger logger, string id, string model, string data, int rows);

        [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Training job {Id} saved {Model} version {Version} in {Seconds:0.0} s")]
        public static partial void Succeeded(ILogger logger, string id, string model, int version, double seconds);

        [LoggerMessage(EventId = 3003, Level = LogLevel.Information, Message = "Training job {Id} cancelled")]
        public static partial void Cancelled(ILogger logger, string id);

        [LoggerMessage(EventId = 3004, Level = LogLevel.Error, Message = "Training job {Id} failed")]
        public static partial void Failed(ILogger logger, string id, Exception exception);

        [LoggerMessage(EventId = 3005, Level = LogLevel.Warning, Message = "Training job {Id} was running when the service last stopped; marked failed")]
        public static partial void MarkedFailed(ILogger logger, string id);

        [LoggerMessage(EventId = 3008, Level = LogLevel.Error, Message = "Training job directory {Path} cannot be read ({Reason}); moved aside as *.unreadable")]
        public static partial void Unreadable(ILogger logger, string path, string reason);

        [LoggerMessage(EventId = 3007, Level = LogLevel.Error, Message = "Training job {Id}: its state could not be recorded")]
        public static partial void RunnerError(ILogger logger, string id, Exception exception);

        [LoggerMessage(EventId = 3006, Level = LogLevel.Information, Message = "Training job {Id} interrupted by shutdown; queued for the next start")]
        public static partial void Requeued(ILogger logger, string id);
    }
}
