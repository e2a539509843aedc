using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Uncertainty.Api.Models;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Native;
using Uncertainty.Model.Packaging;
using static TorchSharp.torch;

namespace Uncertainty.Api.Inference;

/// <summary>A loaded model as the worker serves it.</summary>
public sealed record ServedModel(string Name, int Version, ModelDescription Description);

/// <summary>A prediction in reported units, with the model version that made it.</summary>
public sealed record ServedPrediction(ServedModel Model, McPrediction Prediction);

/// <summary>Thrown when the bounded inference queue is full.</summary>
public sealed class QueueFullException() : Exception("The inference queue is full.");

/// <summary>Thrown when a prediction did not finish within the configured request timeout.</summary>
public sealed class PredictionTimeoutException(TimeSpan timeout) : Exception($"The prediction did not finish within {timeout.TotalSeconds:0.###} s.");

/// <summary>
/// The one thread that owns the models. TorchSharp's dispose scopes and grad mode are per thread, its
/// default RNG is global and a Module is not safe for concurrent callers, so every forward pass happens
/// here. Requests wait in a bounded queue; after the first one arrives the worker keeps collecting for
/// <see cref="UncertaintyOptions.BatchDelayMilliseconds"/> or until <see cref="UncertaintyOptions.MaxBatchRows"/>
/// (samples x rows) is reached, and runs them as one merged pass (each keeps its own seed, so its result is
/// what it would have been alone).
/// </summary>
public sealed partial class InferenceWorker(
    IOptions<UncertaintyOptions> options,
    ModelStore store,
    ILogger<InferenceWorker> logger) : IHostedService, IDisposable
{
    private readonly Channel<Job> queue = Channel.CreateBounded<Job>(new BoundedChannelOptions(options.Value.QueueCapacity)
    {
        FullMode = BoundedChannelFullMode.Wait,
        SingleReader = true,
    });

    private readonly CancellationTokenSource stopping = new();
    private readonly ManualResetEventSlim gate = new(initialState: true);
    private Thread? owner;
    private McPredictor? predictor;
    private volatile ServedModel? served;
    private volatile Exception? failure;
    // No initialiser: touching torch's statics before TorchBackend.Initialize would load the natives unpatched.
    private Device? device;

    /// <summary>The default model once loaded; null until then (the service is not ready).</summary>
    public ServedModel? DefaultModel => served;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Fail start-up here, with the reason, when the backend cannot load or the device is unavailable.
        TorchBackend.Initialize(options.Value.LibTorchDirectory, logger);
        device = TorchBackend.ResolveDevice(TorchBackend.ParsePreference(options.Value.Device));
        Log.BackendReady(logger, TorchBackend.Info!.LibTorchSource, device);
        owner = new Thread(Serve) { IsBackground = true, Name = "inference-owner" };
        owner.Start();
        return Task.CompletedTask;
    }

    /// <summary>Queues a prediction; throws <see cref="QueueFullException"/> at once when the queue is full.</summary>
    public async Task<ServedPrediction> PredictAsync(McRequest request, CancellationToken cancellationToken)
    {
        if (failure is not null)
        {
            throw new InvalidOperationException("The inference worker has stopped; see the service log.", failure);
        }

        var timeout = TimeSpan.FromSeconds(options.Value.RequestTimeoutSeconds);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        // The worker skips the rest of this request's samples once the client goes away or time runs out.
        var job = new Job(request with { Cancellation = deadline.Token }, new TaskCompletionSource<ServedPrediction>(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!queue.Writer.TryWrite(job))
        {
            throw new QueueFullException();
        }

        try
        {
            return await job.Completion.Task.WaitAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new PredictionTimeoutException(timeout);
        }
    }

    /// <summary>Test hook: while paused the worker takes nothing from the queue.</summary>
    internal void Pause() => gate.Reset();

    internal void Resume() => gate.Set();

    private void Serve()
    {
        try
        {
            LoadDefaultModel();
            var reader = queue.Reader;
            while (reader.WaitToReadAsync(stopping.Token).AsTask().GetAwaiter().GetResult())
            {
                gate.Wait(stopping.Token);
                Run(Collect(reader));
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            while (queue.Reader.TryRead(out var job))
            {
                job.Completion.TrySetCanceled(stopping.Token);
            }
        }
        catch (Exception e)
        {
            Log.WorkerFailed(logger, e);
            failure = e;
            queue.Writer.TryComplete();
            while (queue.Reader.TryRead(out var job))
            {
                job.Completion.TrySetException(e);
            }
        }
    }

    /// <summary>The next merged batch: queued requests until the delay after the first has passed or the row budget is full.</summary>
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
                if (job.Request.Cancellation.IsCancellationRequested)
                {
                    job.Completion.TrySetCanceled(job.Request.Cancellation);
                    continue;
                }

                batch.Add(job);
                rows += (long)job.Request.Samples * job.Request.Rows;
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

    private void Run(List<Job> batch)
    {
        if (batch.Count == 0)
        {
            return;
        }

        var model = served!;
        try
        {
            var results = predictor!.Predict([.. batch.Select(j => j.Request)], stopping.Token);
            for (int i = 0; i < batch.Count; i++)
            {
                if (results[i].Cancelled)
                {
                    batch[i].Completion.TrySetCanceled(batch[i].Request.Cancellation);
                }
                else
                {
                    batch[i].Completion.TrySetResult(new ServedPrediction(model, model.Description.ToReportedUnits(results[i])));
                }
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            foreach (var job in batch)
            {
                job.Completion.TrySetException(e);
            }
        }
    }

    /// <summary>Loads the newest version of the default model, creating the built-in one first if the store has none.</summary>
    private void LoadDefaultModel()
    {
        var name = options.Value.DefaultModel;
        var version = store.LatestVersion(name);
        if (version is null)
        {
            if (name != DefaultModels.Toy)
            {
                throw new InvalidOperationException($"The default model '{name}' has no versions in {store.Root}.");
            }

            using var trained = DefaultModels.TrainToy();
            version = store.Add(name, trained);
            Log.CreatedDefault(logger, name, version.Value, store.Root);
        }

        var package = ModelPackage.Load(store.VersionDirectory(name, version.Value));
        predictor = new McPredictor(package.Network, device!, new McOptions { MaxChunkElements = options.Value.MaxChunkElements }, package.Description.OutputScale);
        served = new ServedModel(name, version.Value, package.Description);
        Log.ModelLoaded(logger, name, version.Value, device!);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        queue.Writer.TryComplete();
        await stopping.CancelAsync();
        owner?.Join(TimeSpan.FromSeconds(5));
    }

    public void Dispose()
    {
        stopping.Dispose();
        gate.Dispose();
        predictor?.Dispose();
    }

    private sealed record Job(McRequest Request, TaskCompletionSource<ServedPrediction> Completion);

    private static partial class Log
    {
        [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Torch backend: {Source}; computing on {Device}")]
        public static partial void BackendReady(ILogger logger, string source, Device device);

        [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Store had no '{Model}' model: trained the built-in one as version {Version} in {Store}")]
        public static partial void CreatedDefault(ILogger logger, string model, int version, string store);

        [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "Serving model {Model} version {Version} on {Device}")]
        public static partial void ModelLoaded(ILogger logger, string model, int version, Device device);

        [LoggerMessage(EventId = 2004, Level = LogLevel.Critical, Message = "The inference worker stopped")]
        public static partial void WorkerFailed(ILogger logger, Exception exception);
    }
}
