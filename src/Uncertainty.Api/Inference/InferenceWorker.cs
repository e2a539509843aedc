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

/// <summary>
/// The one thread that owns the models. TorchSharp's dispose scopes and grad mode are per thread, its
/// default RNG is global and a Module is not safe for concurrent callers, so every forward pass happens
/// here: requests wait in a bounded queue, and whatever is queued when the worker looks is merged into one pass.
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

    public Task<ServedPrediction> PredictAsync(McRequest request, CancellationToken cancellationToken)
    {
        if (failure is not null)
        {
            throw new InvalidOperationException("The inference worker has stopped; see the service log.", failure);
        }

        var job = new Job(request, new TaskCompletionSource<ServedPrediction>(TaskCreationOptions.RunContinuationsAsynchronously), cancellationToken);
        if (!queue.Writer.TryWrite(job))
        {
            throw new QueueFullException();
        }

        return job.Completion.Task.WaitAsync(cancellationToken);
    }

    private void Serve()
    {
        try
        {
            LoadDefaultModel();
            var reader = queue.Reader;
            while (reader.WaitToReadAsync(stopping.Token).AsTask().GetAwaiter().GetResult())
            {
                var batch = new List<Job>();
                while (reader.TryRead(out var job))
                {
                    if (!job.Cancellation.IsCancellationRequested)
                    {
                        batch.Add(job);
                    }
                }

                Run(batch);
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
                batch[i].Completion.TrySetResult(new ServedPrediction(model, model.Description.ToReportedUnits(results[i])));
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
        predictor?.Dispose();
    }

    private sealed record Job(McRequest Request, TaskCompletionSource<ServedPrediction> Completion, CancellationToken Cancellation);

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
