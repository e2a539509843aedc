using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Uncertainty.Api.Models;
using Uncertainty.Api.Observability;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Native;
using Uncertainty.Model.Packaging;
using static TorchSharp.torch;

namespace Uncertainty.Api.Inference;

/// <summary>A loaded model version as the worker serves it.</summary>
public sealed record ServedModel(string Name, int Version, ModelDescription Description);

/// <summary>A prediction in reported units, with the model version that made it.</summary>
public sealed record ServedPrediction(ServedModel Model, McPrediction Prediction);

/// <summary>Thrown when the bounded inference queue is full.</summary>
public sealed class QueueFullException() : Exception("The inference queue is full.");

/// <summary>Thrown when the service is shutting down and takes no new work, or its grace period ran out before this work.</summary>
public sealed class ServiceStoppingException() : Exception("The service is shutting down.");

/// <summary>Thrown when a prediction did not finish within the configured request timeout.</summary>
public sealed class PredictionTimeoutException(TimeSpan timeout) : Exception($"The prediction did not finish within {timeout.TotalSeconds:0.###} s.");

/// <summary>
/// The one thread that owns the models. TorchSharp's dispose scopes and grad mode are per thread, its
/// default RNG is global and a Module is not safe for concurrent callers, so every forward pass and every
/// model load happens here. Requests wait in a bounded queue; after the first one arrives the worker keeps
/// collecting for <see cref="UncertaintyOptions.BatchDelayMilliseconds"/> or until
/// <see cref="UncertaintyOptions.MaxBatchRows"/> (samples x rows) is reached, and runs the requests for each
/// model version as one merged pass (each keeps its own seed, so its result is what it would have been alone).
/// </summary>
public sealed partial class InferenceWorker(
    IOptions<UncertaintyOptions> options,
    ModelStore store,
    ServiceMetrics metrics,
    ILogger<InferenceWorker> logger) : IHostedService, IDisposable
{
    private readonly Channel<Job> queue = Channel.CreateBounded<Job>(new BoundedChannelOptions(options.Value.QueueCapacity)
    {
        FullMode = BoundedChannelFullMode.Wait,
        SingleReader = true,
    });

    private readonly CancellationTokenSource stopping = new();
    private readonly ManualResetEventSlim gate = new(initialState: true);

    // Touched only by the owner thread.
    private readonly Dictionary<(string Name, int Version), (ServedModel Model, McPredictor Predictor)> loaded = [];
    private Thread? owner;
    private volatile ServedModel? defaultModel;
    private volatile Exception? failure;
    private volatile bool stopRequested;

    // No initialiser: touching torch's statics before TorchBackend.Initialize would load the natives unpatched.
    private Device? device;

    /// <summary>The default model once loaded; null until then (the service is not ready).</summary>
    public ServedModel? DefaultModel => defaultModel;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Fail start-up here, with the reason, when the backend cannot load or the device is unavailable.
        TorchBackend.Initialize(options.Value.LibTorchDirectory, logger);
        device = TorchBackend.ResolveDevice(TorchBackend.ParsePreference(options.Value.Device));
        Log.BackendReady(logger, TorchBackend.Info!.LibTorchSource, device);
        if (!options.Value.ConfiguredApiKeys.Any())
        {
            Log.NoApiKeys(logger);
        }

        owner = new Thread(Serve) { IsBackground = true, Name = "inference-owner" };
        owner.Start();
        return Task.CompletedTask;
    }

    /// <summary>
    /// Queues a prediction with <paramref name="model"/> (its default version unless <paramref name="version"/> is
    /// given); throws <see cref="QueueFullException"/> at once when the queue is full.
    /// </summary>
    public async Task<ServedPrediction> PredictAsync(string model, int? version, McRequest request, CancellationToken cancellationToken)
    {
        ThrowIfFailed();
        var timeout = TimeSpan.FromSeconds(options.Value.RequestTimeoutSeconds);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        // The worker skips the rest of this request's samples once the client goes away or time runs out.
        var job = new PredictJob(model, version, request with { Cancellation = deadline.Token });
        Enqueue(job);
        try
        {
            return await job.Completion.Task.WaitAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            throw new ServiceStoppingException();
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new PredictionTimeoutException(timeout);
        }
    }

    /// <summary>
    /// Loads <paramref name="version"/> on the owner thread and only then makes it the default: a version that
    /// fails to load throws <see cref="InvalidDataException"/> and the current default keeps serving.
    /// </summary>
    public Task<ServedModel> SetDefaultVersionAsync(string model, int version, CancellationToken cancellationToken) =>
        RunOnOwnerAsync(() =>
        {
            var served = Load(model, version).Model;
            store.SetDefaultVersion(model, version);
            if (model == options.Value.DefaultModel)
            {
                defaultModel = served;
            }

            Log.DefaultSwitched(logger, model, version);
            return served;
        }, cancellationToken);

    /// <summary>Runs <paramref name="work"/> with a loaded version on the owner thread (evaluation, between merged passes).</summary>
    public Task<T> WithModelAsync<T>(string model, int version, Func<ServedModel, McPredictor, T> work, CancellationToken cancellationToken) =>
        RunOnOwnerAsync(() =>
        {
            var (served, predictor) = Load(model, version);
            return work(served, predictor);
        }, cancellationToken);

    /// <summary>Unloads and deletes a version that is not the default.</summary>
    public Task DeleteVersionAsync(string model, int version, CancellationToken cancellationToken) =>
        RunOnOwnerAsync<object?>(() =>
        {
            if (loaded.Remove((model, version), out var entry))
            {
                entry.Predictor.Dispose();
            }

            store.DeleteVersion(model, version);
            return null;
        }, cancellationToken);

    /// <summary>Test hook: while paused the worker takes nothing from the queue.</summary>
    internal void Pause() => gate.Reset();

    internal void Resume() => gate.Set();

    /// <summary>Jobs waiting in the queue.</summary>
    internal int QueueLength => queue.Reader.Count;

    /// <summary>Runs <paramref name="work"/> on the owner thread, queued like a prediction (torch work outside requests: imports).</summary>
    public async Task<T> RunOnOwnerAsync<T>(Func<T> work, CancellationToken cancellationToken)
    {
        ThrowIfFailed();
        var job = new ControlJob(() => work());
        Enqueue(job);
        return (T)(await job.Completion.Task.WaitAsync(cancellationToken))!;
    }

    private void Enqueue(Job job)
    {
        if (!queue.Writer.TryWrite(job))
        {
            throw stopRequested ? new ServiceStoppingException() : new QueueFullException();
        }

        metrics.QueueLength(queue.Reader.Count);
    }

    private void ThrowIfFailed()
    {
        if (failure is not null)
        {
            throw new InvalidOperationException("The inference worker has stopped; see the service log.", failure);
        }
    }

    private void Serve()
    {
        try
        {
            var name = options.Value.DefaultModel;
            int version;
            if (options.Value.ReadOnlyStore)
            {
                version = WaitForDefaultModel(name);
            }
            else
            {
                ProvideBuiltInModels();
                version = store.DefaultVersion(name) ?? throw new InvalidOperationException($"The default model '{name}' has no versions in {store.Root}.");
            }

            defaultModel = Load(name, version).Model;
            var reader = queue.Reader;
            while (reader.WaitToReadAsync(stopping.Token).AsTask().GetAwaiter().GetResult())
            {
                gate.Wait(stopping.Token);
                var batch = Collect(reader);
                metrics.QueueLength(reader.Count);
                Run(batch);
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            while (queue.Reader.TryRead(out var job))
            {
                job.Cancel(stopping.Token);
            }
        }
        catch (Exception e)
        {
            Log.WorkerFailed(logger, e);
            failure = e;
            queue.Writer.TryComplete();
            while (queue.Reader.TryRead(out var job))
            {
                job.Fail(e);
            }
        }
    }

    /// <summary>The next batch: queued jobs until the delay after the first has passed or the row budget is full.</summary>
    private List<Job> Collect(ChannelReader<Job> reader)
    {
        var settings = options.Value;
        var batch = new List<Job>();
        long rows = 0;
        long deadline = Stopwatch.GetTimestamp() + (long)(settings.BatchDelayMilliseconds / 1000 * Stopwatch.Frequency);
        while (true)
        {
            while (rows < settings.MaxBatchRows && reader.TryRead(out var job))
            {
                if (job is PredictJob predict)
                {
                    if (predict.Request.Cancellation.IsCancellationRequested)
                    {
                        predict.Cancel(predict.Request.Cancellation);
                        continue;
                    }

                    rows += (long)predict.Request.Samples * predict.Request.Rows;
                }

                batch.Add(job);
                if (!settings.DynamicBatching)
                {
                    return batch;
                }
            }

            var remaining = deadline - Stopwatch.GetTimestamp();
            if (rows >= settings.MaxBatchRows || remaining <= 0)
            {
                return batch;
            }

            using var wait = CancellationTokenSource.CreateLinkedTokenSource(stopping.Token);
            wait.CancelAfter(TimeSpan.FromTicks(remaining * TimeSpan.TicksPerSecond / Stopwatch.Frequency));
            try
            {
                if (!reader.WaitToReadAsync(wait.Token).AsTask().GetAwaiter().GetResult())
                {
                    return batch;
                }
            }
            catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
            {
                return batch;
            }
        }
    }

    /// <summary>Runs control work first, then one merged pass per model version.</summary>
    private void Run(List<Job> batch)
    {
        foreach (var control in batch.OfType<ControlJob>())
        {
            control.Execute();
        }

        foreach (var group in batch.OfType<PredictJob>().GroupBy(job => (job.Model, Version: job.Version ?? store.DefaultVersion(job.Model))))
        {
            var jobs = group.ToList();
            try
            {
                if (group.Key.Version is not { } version)
                {
                    throw new InvalidDataException($"Model '{group.Key.Model}' has no versions.");
                }

                var (model, predictor) = Load(group.Key.Model, version);
                var started = Stopwatch.GetTimestamp();
                var results = predictor.Predict([.. jobs.Select(j => j.Request)], stopping.Token);
                metrics.MergedPass(jobs.Count, jobs.Sum(j => (long)j.Request.Samples * j.Request.Rows), Stopwatch.GetElapsedTime(started), results.Sum(r => (long)r.SamplesUsed));
                for (int i = 0; i < jobs.Count; i++)
                {
                    if (results[i].Cancelled)
                    {
                        jobs[i].Cancel(jobs[i].Request.Cancellation);
                    }
                    else
                    {
                        jobs[i].Completion.TrySetResult(new ServedPrediction(model, model.Description.ToReportedUnits(results[i])));
                    }
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                jobs.ForEach(job => job.Fail(e));
            }
        }
    }

    /// <summary>A version's predictor, loading (and verifying) the package on first use.</summary>
    private (ServedModel Model, McPredictor Predictor) Load(string name, int version)
    {
        if (!loaded.TryGetValue((name, version), out var entry))
        {
            ModelPackage package;
            try
            {
                package = ModelPackage.Load(store.VersionDirectory(name, version));
            }
            catch (Exception e) when (e is InvalidDataException or IOException)
            {
                metrics.ModelLoadFailed();
                throw new InvalidDataException($"Model '{name}' version {version} cannot be loaded: {e.Message}", e);
            }

            var predictor = new McPredictor(package.Network, device!, new McOptions { MaxChunkElements = options.Value.MaxChunkElements, Precision = options.Value.Precision }, package.Description.OutputScale);
            entry = (new ServedModel(name, version, package.Description), predictor);
            loaded[(name, version)] = entry;
            Log.ModelLoaded(logger, name, version, device!);
        }

        return entry;
    }

    /// <summary>A read-only replica waits (not ready) until the writer has saved the default model.</summary>
    private int WaitForDefaultModel(string name)
    {
        while (true)
        {
            if (store.DefaultVersion(name) is { } version)
            {
                return version;
            }

            Log.WaitingForDefault(logger, name, store.Root);
            stopping.Token.WaitHandle.WaitOne(TimeSpan.FromSeconds(2));
            stopping.Token.ThrowIfCancellationRequested();
        }
    }

    /// <summary>Trains and stores each built-in model the store lacks (Boston, toy), so a fresh start needs no setup.</summary>
    private void ProvideBuiltInModels()
    {
        foreach (var name in DefaultModels.Names.Where(name => !store.Exists(name)))
        {
            using var trained = DefaultModels.Train(name);
            var version = store.Add(name, trained);
            Log.CreatedBuiltIn(logger, name, version, store.Root);
        }
    }

    /// <summary>
    /// Takes no new work and finishes what is queued; when the host's shutdown grace period
    /// (<paramref name="cancellationToken"/>) runs out first, the rest is cancelled.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        stopRequested = true;
        queue.Writer.TryComplete();
        if (owner is null)
        {
            return;
        }

        if (defaultModel is null)
        {
            await stopping.CancelAsync(); // still starting: nothing was served, so nothing to drain
        }

        var drained = Task.Factory.StartNew(() => owner.Join(), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            await drained.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            await stopping.CancelAsync();
            owner.Join(TimeSpan.FromSeconds(5));
        }
    }

    public void Dispose()
    {
        stopping.Dispose();
        gate.Dispose();
        foreach (var (_, predictor) in loaded.Values)
        {
            predictor.Dispose();
        }
    }

    private abstract class Job
    {
        public abstract void Cancel(CancellationToken token);

        public abstract void Fail(Exception exception);
    }

    private sealed class PredictJob(string model, int? version, McRequest request) : Job
    {
        public string Model { get; } = model;

        public int? Version { get; } = version;

        public McRequest Request { get; } = request;

        public TaskCompletionSource<ServedPrediction> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override void Cancel(CancellationToken token) => Completion.TrySetCanceled(token);

        public override void Fail(Exception exception) => Completion.TrySetException(exception);
    }

    /// <summary>Work that must run on the owner thread (loading, unloading), queued like a prediction.</summary>
    private sealed class ControlJob(Func<object?> work) : Job
    {
        public TaskCompletionSource<object?> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Execute()
        {
            try
            {
                Completion.TrySetResult(work());
            }
            catch (Exception e)
            {
                Completion.TrySetException(e);
            }
        }

        public override void Cancel(CancellationToken token) => Completion.TrySetCanceled(token);

        public override void Fail(Exception exception) => Completion.TrySetException(exception);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Torch backend: {Source}; computing on {Device}")]
        public static partial void BackendReady(ILogger logger, string source, Device device);

        [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Store had no '{Model}' model: trained the built-in one as version {Version} in {Store}")]
        public static partial void CreatedBuiltIn(ILogger logger, string model, int version, string store);

        [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "Loaded model {Model} version {Version} on {Device}")]
        public static partial void ModelLoaded(ILogger logger, string model, int version, Device device);

        [LoggerMessage(EventId = 2004, Level = LogLevel.Critical, Message = "The inference worker stopped")]
        public static partial void WorkerFailed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 2007, Level = LogLevel.Information, Message = "Read-only replica: waiting for the writer to save model '{Model}' in {Store}")]
        public static partial void WaitingForDefault(ILogger logger, string model, string store);

        [LoggerMessage(EventId = 2006, Level = LogLevel.Warning, Message = "No API keys are configured (Uncertainty:ApiKeys): training, import and model changes are open to every client")]
        public static partial void NoApiKeys(ILogger logger);

        [LoggerMessage(EventId = 2005, Level = LogLevel.Information, Message = "Model {Model} now serves version {Version} by default")]
        public static partial void DefaultSwitched(ILogger logger, string model, int version);
    }
}
