using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Options;
using Uncertainty.Api.Observability;
using Uncertainty.Api.Problems;
using Uncertainty.Model.Inference;

namespace Uncertainty.Api.Inference;

/// <summary>How a queued prediction runs.</summary>
public enum PassMode
{
    /// <summary>T stochastic passes (MC dropout).</summary>
    MonteCarlo,

    /// <summary>One deterministic pass (weight scaling).</summary>
    Deterministic,
}

/// <summary>
/// The one thread that runs the models. TorchSharp's dispose scopes and grad mode are per thread and a
/// Module is not safe for concurrent callers, so every forward pass, load and disposal happens here.
/// Predictions wait in a bounded queue. A request that finds the owner idle runs at once (with whatever else is
/// queued by then); work that queued behind a pass is collected for up to
/// <see cref="UncertaintyOptions.BatchDelayMilliseconds"/> more or until <see cref="UncertaintyOptions.MaxBatchRows"/>
/// (samples x rows). Small requests for one version run as one merged pass (each keeps its own seed, so
/// its result is what it would have been alone). A request too large for one chunk runs a chunk at a time,
/// and everything that arrives meanwhile runs between its chunks: a small request waits at most about one
/// chunk behind a large one.
/// </summary>
public sealed partial class InferenceScheduler(
    IOptions<UncertaintyOptions> options,
    InferenceBackend backend,
    ServiceMetrics metrics,
    ILogger<InferenceScheduler> logger) : IHostedService, IDisposable
{
    private readonly ConcurrentQueue<PredictJob> predictions = new();
    private readonly ConcurrentQueue<ControlJob> control = new();
    private readonly SemaphoreSlim signal = new(0);
    private readonly CancellationTokenSource stopping = new();
    private readonly ManualResetEventSlim gate = new(initialState: true);
    private readonly List<LargeRun> large = []; // owner thread only
    private int nextLarge; // owner thread only: the large run whose turn is next
    private int queued;
    private long passes;
    private int largeRuns;
    private volatile bool stopRequested;
    private volatile bool ownerExited;
    private volatile bool disposed;
    private Thread? owner;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = backend.Device; // fail start-up here, with the reason, when the backend or the device is unavailable
        owner = new Thread(Serve) { IsBackground = true, Name = "inference-owner" };
        owner.Start();
        return Task.CompletedTask;
    }

    /// <summary>
    /// Runs <paramref name="request"/> on <paramref name="version"/>, which the caller holds a lease on.
    /// Throws <see cref="QueueFullException"/> at once when the queue is full, <see cref="WorkTimeoutException"/>
    /// after <paramref name="timeout"/>, <see cref="ServiceUnavailableException"/> while stopping.
    /// </summary>
    public async Task<McPrediction> PredictAsync(LoadedVersion version, McRequest request, PassMode mode, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);

        if (stopRequested || ownerExited)
        {
            throw stopRequested ? Stopping() : Failed();
        }

        if (Interlocked.Increment(ref queued) > options.Value.QueueCapacity)
        {
            Interlocked.Decrement(ref queued);
            metrics.Rejected("queue_full");
            throw new QueueFullException($"The inference queue is full ({options.Value.QueueCapacity} requests wait); retry shortly.");
        }

        // The owner skips the rest of this request's samples once the client goes away or time runs out.
        var job = new PredictJob(version, request with { Cancellation = deadline.Token }, mode);
        predictions.Enqueue(job);
        metrics.QueueLength(Volatile.Read(ref queued));
        signal.Release();
        try
        {
            return await job.Completion.Task.WaitAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            throw Stopping();
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            metrics.Rejected("timeout");
            throw new WorkTimeoutException($"The work did not finish within {timeout.TotalSeconds:0.###} s and was stopped.");
        }
    }

    /// <summary>Runs <paramref name="work"/> on the owner thread, before any queued prediction (loads, unloads, imports).</summary>
    public async Task<T> RunOnOwnerAsync<T>(Func<T> work, CancellationToken cancellationToken)
    {
        var job = new ControlJob(() => work());
        if (ownerExited)
        {
            throw Stopping();
        }

        control.Enqueue(job);
        signal.Release();
        return (T)(await job.Completion.Task.WaitAsync(cancellationToken))!;
    }

    /// <summary>Queues <paramref name="work"/> for the owner thread without waiting (disposing a released version).</summary>
    public void Post(Action work)
    {
        control.Enqueue(new ControlJob(() =>
        {
            work();
            return null;
        }));
        signal.Release();
    }

    /// <summary>Test hook: while paused the owner takes no predictions from the queue.</summary>
    internal void Pause() => gate.Reset();

    internal void Resume() => gate.Set();

    /// <summary>A large request is being run a chunk at a time (tests observe interleaving with it).</summary>
    internal bool RunningLarge => Volatile.Read(ref largeRuns) > 0;

    /// <summary>Merged passes run for small Monte Carlo requests (tests observe merging).</summary>
    internal long Passes => Interlocked.Read(ref passes);

    /// <summary>Predictions waiting in the queue.</summary>
    internal int QueueLength => Volatile.Read(ref queued);

    private static ServiceUnavailableException Failed() => new("Inference stopped", "The inference thread has stopped after an internal error (see the service log); this replica cannot predict until it is restarted.", retryAfterSeconds: 30);

    /// <summary>False once the owner thread has exited (stopped, or failed): readiness reports it.</summary>
    public bool Alive => !ownerExited;

    private static ServiceUnavailableException Stopping() => new("Shutting down", "The service is shutting down and takes no new predictions; retry on another replica.");

    private void Serve()
    {
        try
        {
            ServeUntilStopped();
        }
        finally
        {
            ownerExited = true;
            while (control.TryDequeue(out var job))
            {
                job.Fail(Stopping());
            }
        }
    }

    private void ServeUntilStopped()
    {
        try
        {
            bool woke = false; // the owner slept on an empty queue since its last pass
            while (true)
            {
                RunControl();
                if (stopRequested && predictions.IsEmpty && large.Count == 0)
                {
                    return; // drained
                }

                if (large.Count == 0 && predictions.IsEmpty)
                {
                    signal.Wait(stopping.Token);
                    woke = true;
                    continue;
                }

                gate.Wait(stopping.Token);

                // A request that finds the owner idle does not wait for company: nothing else is running, so waiting
                // would only add latency. Requests that queued behind a pass are the ones worth merging.
                var batch = Collect(waitForMore: large.Count == 0 && !woke);
                woke = false;
                metrics.QueueLength(Volatile.Read(ref queued));
                Run(batch);
                StepLargest();
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // The grace period ran out: what is left is answered 503.
            foreach (var run in large)
            {
                run.Fail(Stopping());
                run.Dispose();
            }

            large.Clear();
            while (predictions.TryDequeue(out var job))
            {
                job.Fail(Stopping());
            }

            RunControl();
        }
        catch (Exception e)
        {
            Log.OwnerFailed(logger, e); // a bug: every job is answered (503) rather than left waiting
            ownerExited = true;
            foreach (var run in large)
            {
                run.Fail(Failed());
            }

            large.Clear();
            while (predictions.TryDequeue(out var job))
            {
                job.Fail(Failed());
            }
        }
    }

    private void RunControl()
    {
        while (control.TryDequeue(out var job))
        {
            job.Execute();
        }
    }

    /// <summary>The next predictions: what is queued, then more until the batching delay has passed or the row budget is full.</summary>
    private List<PredictJob> Collect(bool waitForMore)
    {
        var settings = options.Value;
        var batch = new List<PredictJob>();
        long rows = 0;
        long deadline = Stopwatch.GetTimestamp() + (long)(settings.BatchDelayMilliseconds / 1000 * Stopwatch.Frequency);
        while (true)
        {
            while (rows < settings.MaxBatchRows && predictions.TryDequeue(out var job))
            {
                Interlocked.Decrement(ref queued);
                if (job.Request.Cancellation.IsCancellationRequested)
                {
                    job.Cancel();
                    continue;
                }

                rows += (long)job.Request.Samples * job.Request.Rows;
                job.LeftQueue(metrics);
                batch.Add(job);
                if (!settings.DynamicBatching)
                {
                    return batch;
                }
            }

            var remaining = deadline - Stopwatch.GetTimestamp();
            if (!waitForMore || batch.Count == 0 || rows >= settings.MaxBatchRows || remaining <= 0 || !control.IsEmpty)
            {
                return batch;
            }

            // Whole milliseconds, rounded up: the semaphore's timeout is in milliseconds, and a fraction truncated to 0
            // would return at once and turn this wait into a spin that takes a core from the HTTP threads.
            signal.Wait((int)Math.Ceiling(remaining * 1000.0 / Stopwatch.Frequency), stopping.Token);
        }
    }

    /// <summary>Deterministic passes and small requests now (one merged pass per version); large ones join the stepped runs.</summary>
    private void Run(List<PredictJob> batch)
    {
        foreach (var job in batch.Where(j => j.Mode == PassMode.Deterministic))
        {
            using var pass = Pass(job.Version, job.Trace, [job]);
            var started = Stopwatch.GetTimestamp();
            Complete(job, () => new McPrediction(1, job.Version.Predictor.PredictDeterministic(job.Request.Inputs, job.Request.Rows), 0, Cancelled: false));
            metrics.Executed(job.Version.Name, job.Version.Version, 1, job.Request.Rows, job.Request.Rows, Stopwatch.GetElapsedTime(started), 1);
        }

        var stochastic = batch.Where(j => j.Mode == PassMode.MonteCarlo).ToList();
        foreach (var job in stochastic.Where(IsLarge))
        {
            var batchSpan = BatchSpan(job.Version, [job]);
            try
            {
                large.Add(new LargeRun(job, job.Version.Predictor.Start([job.Request]), batchSpan, Pass(job.Version, batchSpan?.Context ?? job.Trace, [job])));
                Volatile.Write(ref largeRuns, large.Count);
                Interlocked.Increment(ref queued); // a running large request still counts against QueueCapacity
            }
            catch (Exception e)
            {
                batchSpan?.SetStatus(ActivityStatusCode.Error, e.Message).Dispose();
                job.Fail(e);
            }
        }

        foreach (var group in stochastic.Where(j => !IsLarge(j)).GroupBy(j => j.Version))
        {
            var jobs = group.ToList();
            using var batchSpan = BatchSpan(group.Key, jobs);
            try
            {
                var started = Stopwatch.GetTimestamp();
                IReadOnlyList<McPrediction> results;
                using (var pass = Pass(group.Key, batchSpan?.Context ?? jobs[0].Trace, jobs))
                {
                    results = group.Key.Predictor.Predict([.. jobs.Select(j => j.Request)], stopping.Token);
                    pass?.SetTag(Telemetry.Attributes.Samples, results.Sum(r => (long)r.SamplesUsed));
                }

                Interlocked.Increment(ref passes);
                metrics.Executed(group.Key.Name, group.Key.Version, jobs.Count, jobs.Sum(j => (long)j.Request.Rows), jobs.Sum(j => (long)j.Request.Samples * j.Request.Rows), Stopwatch.GetElapsedTime(started), results.Sum(r => (long)r.SamplesUsed));
                for (int i = 0; i < jobs.Count; i++)
                {
                    jobs[i].Finish(results[i]);
                }
            }
            catch (OperationCanceledException)
            {
                jobs.ForEach(job => job.Fail(Stopping())); // the grace period ran out mid-pass
                throw;
            }
            catch (Exception e)
            {
                batchSpan?.SetStatus(ActivityStatusCode.Error, e.Message);
                jobs.ForEach(job => job.Fail(e));
            }
        }
    }

    /// <summary>The merged batch's span: under the request that opened it, linked to every request it serves (null when nobody traces).</summary>
    private static Activity? BatchSpan(LoadedVersion version, List<PredictJob> jobs) =>
        Telemetry.StartOnOwner(Telemetry.Spans.Batch, jobs[0].Trace, links: jobs.Where(j => j.Trace != default).Select(j => new ActivityLink(j.Trace)).ToList())
            ?.SetTag(Telemetry.Attributes.Model, version.Name)
            .SetTag(Telemetry.Attributes.Version, version.Version)
            .SetTag(Telemetry.Attributes.MergedRequests, jobs.Count)
            .SetTag(Telemetry.Attributes.Rows, jobs.Sum(j => j.Request.Rows));

    /// <summary>The forward pass's span (samples planned; a merged pass sets those it used).</summary>
    private static Activity? Pass(LoadedVersion version, ActivityContext parent, List<PredictJob> jobs) =>
        Telemetry.StartOnOwner(Telemetry.Spans.ForwardPass, parent)
            ?.SetTag(Telemetry.Attributes.Model, version.Name)
            .SetTag(Telemetry.Attributes.Version, version.Version)
            .SetTag(Telemetry.Attributes.Mode, jobs[0].Mode == PassMode.Deterministic ? "deterministic" : "monteCarlo")
            .SetTag(Telemetry.Attributes.Rows, jobs.Sum(j => j.Request.Rows))
            .SetTag(Telemetry.Attributes.Samples, jobs[0].Mode == PassMode.Deterministic ? 1 : jobs.Sum(j => (long)j.Request.Samples));

    /// <summary>
    /// One chunk of the next large run, in turn: runs share the owner thread chunk by chunk, so a request that is "large" only
    /// because its model's chunks are small (a recurrent or attention network over long sequences) finishes in a few chunks
    /// while a huge one is still running. Finished runs answer their request.
    /// </summary>
    private void StepLargest()
    {
        if (large.Count == 0)
        {
            return;
        }

        int turn = nextLarge % large.Count;
        var run = large[turn];
        try
        {
            var started = Stopwatch.GetTimestamp();
            var more = run.Steps.Step(stopping.Token) && !run.Steps.Done;
            run.Stepped(Stopwatch.GetElapsedTime(started));
            if (!more)
            {
                var result = run.Steps.Results[0];
                var version = run.Job.Version;
                run.Pass?.SetTag(Telemetry.Attributes.Samples, (long)result.SamplesUsed);
                metrics.Executed(version.Name, version.Version, 1, run.Job.Request.Rows, (long)run.Job.Request.Samples * run.Job.Request.Rows, run.Compute, result.SamplesUsed);
                run.Job.Finish(result);
            }
            else
            {
                nextLarge = turn + 1;
                return;
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            run.Fail(e);
        }

        nextLarge = turn; // the run after it now has its index
        large.RemoveAt(turn);
        Volatile.Write(ref largeRuns, large.Count);
        Interlocked.Decrement(ref queued);
        run.Dispose();
    }

    /// <summary>More samples x rows than one chunk of its predictor holds: run a chunk at a time.</summary>
    private static bool IsLarge(PredictJob job) => (long)job.Request.Samples * job.Request.Rows > job.Version.Predictor.ChunkRows;

    private static void Complete(PredictJob job, Func<McPrediction> work)
    {
        try
        {
            job.Finish(work());
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            job.Fail(e);
        }
    }

    /// <summary>
    /// Takes no new predictions and finishes what is queued; when the host's shutdown grace period
    /// (<paramref name="cancellationToken"/>) runs out first, the rest is answered 503.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        stopRequested = true;
        if (owner is null || disposed)
        {
            return; // never started, or a host that failed to start was disposed first
        }

        signal.Release();
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
        disposed = true;
        stopping.Dispose();
        gate.Dispose();
        signal.Dispose();
    }

    /// <summary>Holds its own reference on the version until answered: a caller that gave up (timeout) never leaves the owner with a disposed network.</summary>
    private sealed class PredictJob
    {
        private int answered;

        private readonly long enqueued = Stopwatch.GetTimestamp();
        private readonly DateTimeOffset enqueuedAt = DateTimeOffset.UtcNow;

        public PredictJob(LoadedVersion version, McRequest request, PassMode mode)
        {
            version.AddReference();
            Version = version;
            Request = request;
            Mode = mode;
        }

        /// <summary>The span of whoever queued it (the request's server span): the owner thread's spans for it are its children.</summary>
        public ActivityContext Trace { get; } = Activity.Current?.Context ?? default;

        public LoadedVersion Version { get; }

        public McRequest Request { get; }

        public PassMode Mode { get; }

        public TaskCompletionSource<McPrediction> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>On the owner thread, as it takes the job into a batch: the queue-wait metric and span.</summary>
        public void LeftQueue(ServiceMetrics metrics)
        {
            metrics.QueueWait(Version.Name, Version.Version, Stopwatch.GetElapsedTime(enqueued));
            Telemetry.StartOnOwner(Telemetry.Spans.QueueWait, Trace, enqueuedAt)
                ?.SetTag(Telemetry.Attributes.Model, Version.Name)
                .SetTag(Telemetry.Attributes.Version, Version.Version)
                .Dispose();
        }

        public void Finish(McPrediction result)
        {
            if (result.Cancelled)
            {
                Cancel();
            }
            else if (Answer())
            {
                Completion.TrySetResult(result);
            }
        }

        public void Cancel()
        {
            if (Answer())
            {
                Completion.TrySetCanceled(Request.Cancellation);
            }
        }

        public void Fail(Exception exception)
        {
            if (Answer())
            {
                Completion.TrySetException(exception);
            }
        }

        private bool Answer()
        {
            if (Interlocked.Exchange(ref answered, 1) != 0)
            {
                return false;
            }

            Version.Release();
            return true;
        }
    }

    /// <summary>A large request run a chunk at a time, with its spans open until it is answered.</summary>
    private sealed class LargeRun(PredictJob job, McPredictor.McRun steps, Activity? batch, Activity? pass) : IDisposable
    {
        private int chunks;

        public PredictJob Job { get; } = job;

        public McPredictor.McRun Steps { get; } = steps;

        public Activity? Pass { get; } = pass;

        /// <summary>Time spent in its chunks (not the time it waited between them).</summary>
        public TimeSpan Compute { get; private set; }

        public void Stepped(TimeSpan elapsed)
        {
            chunks++;
            Compute += elapsed;
        }

        public void Fail(Exception exception)
        {
            batch?.SetStatus(ActivityStatusCode.Error, exception.Message);
            Job.Fail(exception);
        }

        public void Dispose()
        {
            Steps.Dispose();
            Pass?.SetTag(Telemetry.Attributes.Chunks, chunks).Dispose();
            batch?.SetTag(Telemetry.Attributes.Chunks, chunks).Dispose();
        }
    }

    /// <summary>Work that must run on the owner thread (loading, unloading), ahead of predictions.</summary>
    private sealed class ControlJob(Func<object?> work)
    {
        public TaskCompletionSource<object?> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Fail(Exception exception) => Completion.TrySetException(exception);

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
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2004, Level = LogLevel.Critical, Message = "The inference owner thread stopped")]
        public static partial void OwnerFailed(ILogger logger, Exception exception);
    }
}
