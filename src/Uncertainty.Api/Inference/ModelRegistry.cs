using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Options;
using Uncertainty.Api.Models;
using Uncertainty.Api.Observability;
using Uncertainty.Api.Problems;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Packaging;

namespace Uncertainty.Api.Inference;

/// <summary>A model's state for health reports and listings.</summary>
/// <param name="Name">The model's name.</param>
/// <param name="DefaultVersion">The version it serves by default; null when it has none.</param>
/// <param name="State">loaded, notLoaded (loaded on first use) or failed.</param>
/// <param name="Error">Why the default version failed to load; null otherwise.</param>
public sealed record ModelHealth(string Name, int? DefaultVersion, string State, string? Error);

/// <summary>
/// The loaded model versions, keyed by (name, version). A request resolves its version once and holds a
/// <see cref="ModelLease"/> on it until answered, so a default switch never changes the numbers of a request
/// in flight and never disposes a network in use. Versions load on the inference owner thread, are checked
/// (resource limits, SHA-256, shapes, finite outputs on their example rows) before anything can serve them,
/// and are evicted least-recently-used beyond <see cref="UncertaintyOptions.ModelMemoryBytes"/>. A version that
/// cannot load is remembered with its reason and never affects other models.
/// </summary>
public sealed partial class ModelRegistry(
    IOptions<UncertaintyOptions> options,
    ModelStore store,
    InferenceScheduler queue,
    InferenceBackend backend,
    ServiceMetrics metrics,
    ILogger<ModelRegistry> logger) : IDisposable
{
    // A failed load is retried after this long (a transient I/O error heals; a corrupt file fails again).
    private static readonly TimeSpan FailureMemory = TimeSpan.FromSeconds(30);

    // The smoke test a version passes before it serves: a few MC passes on its example rows.
    private const int CheckSamples = 8;

    private readonly Lock sync = new();
    private readonly Dictionary<(string Name, int Version), LoadedVersion> loaded = [];
    private readonly ConcurrentDictionary<(string Name, int Version), Failure> failures = new();
    private readonly ConcurrentDictionary<(string Name, int Version), Lazy<Task>> loading = new();
    private readonly SemaphoreSlim writes = new(1, 1);

    /// <summary>The version a request for <paramref name="name"/> (and <paramref name="version"/>, if given) means; 400/404 otherwise.</summary>
    public int Resolve(string name, int? version)
    {
        if (!ModelStore.ValidName().IsMatch(name))
        {
            throw new RequestValidationException("name", $"Model names are 1-64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit ({ModelStore.NamePattern}).");
        }

        var (versions, defaultVersion) = store.Listed(name);
        if (versions.Count == 0)
        {
            throw new NotFoundException("Model not found", $"There is no model '{name}'.");
        }

        if (version is { } v)
        {
            return versions.Contains(v)
                ? v
                : throw new NotFoundException("Model version not found", $"Model '{name}' has no version {v}; it has {string.Join(", ", versions)}.");
        }

        return defaultVersion
            ?? throw new NotFoundException("Model has no default version", $"Model '{name}' has no default version yet.");
    }

    /// <summary>A lease on the version a request means, loading it first if needed.</summary>
    public async Task<ModelLease> AcquireAsync(string name, int? version, CancellationToken cancellationToken)
    {
        while (true)
        {
            // Resolved again after every load attempt: a version deleted meanwhile is a 404, never a retry loop.
            var v = Resolve(name, version);
            var onDisk = ManifestOrNull(name, v); // read outside the lock: file I/O
            lock (sync)
            {
                if (loaded.TryGetValue((name, v), out var entry))
                {
                    if (onDisk is not null && !SamePackage(onDisk, entry.Manifest))
                    {
                        // An operator removed the model folder and a new package took the number: load the new one.
                        loaded.Remove((name, v));
                        entry.Retire();
                        failures.TryRemove((name, v), out _);
                    }
                    else if (entry.TryAcquire())
                    {
                        return new ModelLease(entry);
                    }
                }
            }

            if (failures.TryGetValue((name, v), out var failure) && Stopwatch.GetElapsedTime(failure.At) < FailureMemory)
            {
                throw new ModelUnavailableException(name, v, failure.Reason);
            }

            await LoadAsync(name, v).WaitAsync(cancellationToken);
        }
    }

    /// <summary>The manifest on disk now; null when unreadable (what was verified at load keeps serving; a reload would fail).</summary>
    private ModelManifest? ManifestOrNull(string name, int version)
    {
        try
        {
            return store.Manifest(name, version);
        }
        catch (InvalidDataException)
        {
            return null;
        }
    }

    private static bool SamePackage(ModelManifest a, ModelManifest b) =>
        a.WeightsSha256 == b.WeightsSha256 && a.CreatedAt == b.CreatedAt;

    /// <summary>Makes <paramref name="version"/> the default once it has loaded and passed its check; 422 (nothing changed) when it cannot.</summary>
    public async Task SetDefaultAsync(string name, int version, CancellationToken cancellationToken)
    {
        Resolve(name, version);
        await writes.WaitAsync(cancellationToken);
        try
        {
            await SetDefaultLockedAsync(name, version, cancellationToken);
        }
        finally
        {
            writes.Release();
        }
    }

    private async Task SetDefaultLockedAsync(string name, int version, CancellationToken cancellationToken)
    {
        try
        {
            using var lease = await AcquireAsync(name, version, cancellationToken);
        }
        catch (ModelUnavailableException e)
        {
            throw new UnprocessableException("Model version cannot be loaded", $"Version {version} of '{name}' failed to load, so the default is unchanged: {e.Reason}", e);
        }

        store.SetDefaultVersion(name, version);
        Log.DefaultSwitched(logger, name, version);
    }

    /// <summary>
    /// Saves <paramref name="package"/> as a new version of <paramref name="name"/>. Its schema must match the
    /// current default's unless <paramref name="replaceSchema"/> (409 naming the difference). It becomes the
    /// default when asked, or when the model has none yet (a model's first version); it must load and pass
    /// its check first, or the default stays (422). Returns the version and whether it became the default.
    /// </summary>
    public async Task<(int Version, bool MadeDefault)> AddVersionAsync(string name, ModelPackage package, bool makeDefault, bool replaceSchema, CancellationToken cancellationToken)
    {
        await writes.WaitAsync(cancellationToken);
        try
        {
            CheckSchema(name, ModelSchema.Of(package.Description), replaceSchema);
            var version = store.Add(name, package);
            try
            {
                // Read back from disk, loaded and checked like any version before it can serve.
                using var lease = await AcquireAsync(name, version, CancellationToken.None);
            }
            catch (ModelUnavailableException e)
            {
                Discard(name, version);
                throw new UnprocessableException("Model version cannot be loaded", $"Nothing was kept; the current versions keep serving. The new version failed its load check: {e.Reason}", e);
            }
            catch
            {
                Discard(name, version);
                throw;
            }

            Log.VersionAdded(logger, name, version);
            if (!makeDefault && store.DefaultVersion(name) is not null)
            {
                return (version, false);
            }

            await SetDefaultLockedAsync(name, version, CancellationToken.None);
            return (version, true);
        }
        finally
        {
            writes.Release();
        }
    }

    /// <summary>Removes a just-saved version that will not be kept.</summary>
    private void Discard(string name, int version)
    {
        if (store.Exists(name, version))
        {
            store.DeleteVersion(name, version);
        }

        failures.TryRemove((name, version), out _);
    }

    /// <summary>Throws <see cref="ConflictException"/> when <paramref name="candidate"/> changes what clients of <paramref name="name"/> rely on.</summary>
    public void CheckSchema(string name, ModelSchema candidate, bool replaceSchema)
    {
        if (replaceSchema || store.DefaultVersion(name) is not { } current)
        {
            return;
        }

        ModelSchema serving;
        try
        {
            serving = ModelSchema.Of(store.Manifest(name, current).Model);
        }
        catch (InvalidDataException)
        {
            return; // an unreadable default has no schema to keep
        }

        if (serving.Differences(candidate) is { Count: > 0 } differences)
        {
            throw new ConflictException(
                "Schema differs from the model's",
                $"Model '{name}' version {current} and this version differ: {string.Join("; ", differences)}. Send \"replaceSchema\": true to change what '{name}' serves, or use another model name.");
        }
    }

    /// <summary>Unloads and deletes a version that is not the default (409 for the default).</summary>
    public async Task DeleteAsync(string name, int version, CancellationToken cancellationToken)
    {
        Resolve(name, version);
        await writes.WaitAsync(cancellationToken);
        try
        {
            Resolve(name, version); // again under the lock: a concurrent delete may have taken it
            if (store.DefaultVersion(name) == version)
            {
                throw new ConflictException("Default version", $"Version {version} is the default version of '{name}'; make another version the default first.");
            }

            // On the owner thread, where versions load: a load of this version either finished before (and is
            // retired here) or starts after the files are gone (and fails); it can never register a deleted version.
            await queue.RunOnOwnerAsync<object?>(
                () =>
                {
                    lock (sync)
                    {
                        if (loaded.Remove((name, version), out var entry))
                        {
                            entry.Retire(); // disposed when the last request using it is answered
                        }
                    }

                    try
                    {
                        store.DeleteVersion(name, version);
                    }
                    catch (DirectoryNotFoundException)
                    {
                        throw new NotFoundException("Model version not found", $"Model '{name}' version {version} was removed meanwhile.");
                    }

                    failures.TryRemove((name, version), out _);
                    return null;
                },
                CancellationToken.None);
        }
        finally
        {
            writes.Release();
        }
    }

    /// <summary>Loads every model's default version (start-up), so broken ones are reported at once; returns the failures.</summary>
    public async Task<IReadOnlyList<ModelHealth>> WarmUpAsync(CancellationToken cancellationToken)
    {
        foreach (var name in store.Names())
        {
            try
            {
                using var lease = await AcquireAsync(name, null, cancellationToken);
            }
            catch (ServiceException)
            {
                // reported by Health()
            }
        }

        return [.. Health().Where(model => model.State == "failed")];
    }

    /// <summary>Each model's default version and whether it is loaded, failed (with the reason) or not loaded yet.</summary>
    public IReadOnlyList<ModelHealth> Health() => [.. store.Names().Select(name =>
    {
        if (store.DefaultVersion(name) is not { } version)
        {
            return new ModelHealth(name, null, "noDefault", "The model has no default version.");
        }

        lock (sync)
        {
            if (loaded.ContainsKey((name, version)))
            {
                return new ModelHealth(name, version, "loaded", null);
            }
        }

        return failures.TryGetValue((name, version), out var failure)
            ? new ModelHealth(name, version, "failed", failure.Reason)
            : new ModelHealth(name, version, "notLoaded", null);
    })];

    /// <summary>Why a version failed to load, if it did recently.</summary>
    public string? FailureOf(string name, int version) => failures.TryGetValue((name, version), out var failure) ? failure.Reason : null;

    private Task LoadAsync(string name, int version)
    {
        var key = (name, version);
        var load = loading.GetOrAdd(key, k => new Lazy<Task>(() => queue.RunOnOwnerAsync<object?>(
            () =>
            {
                Load(k.Name, k.Version);
                return null;
            },
            CancellationToken.None)));
        return load.Value.ContinueWith(
            done =>
            {
                loading.TryRemove(new KeyValuePair<(string, int), Lazy<Task>>(key, load));
                done.GetAwaiter().GetResult();
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <summary>On the owner thread: loads, checks and registers a version, or records why it cannot serve.</summary>
    private void Load(string name, int version)
    {
        lock (sync)
        {
            if (loaded.ContainsKey((name, version)))
            {
                return;
            }
        }

        McPredictor? predictor = null;
        try
        {
            var manifest = ModelPackage.ReadManifest(Path.Combine(store.VersionDirectory(name, version), ModelPackage.ManifestFileName));
            if (ResourceGuards.Violation(manifest.Model.Network, options.Value) is { } limit)
            {
                throw new InvalidDataException(limit);
            }

            MakeRoom(manifest.Model.Network.ParameterCount * sizeof(float));
            var package = ModelPackage.Load(store.VersionDirectory(name, version));
            predictor = new McPredictor(
                package.Network,
                backend.Device,
                new McOptions { MaxChunkElements = options.Value.MaxChunkElements, Precision = options.Value.Precision },
                package.Description.OutputScale);
            CheckOutputs(predictor, package.Description);
            var entry = new LoadedVersion(name, version, manifest, predictor, Unload, () => MakeRoom(0));
            lock (sync)
            {
                loaded[(name, version)] = entry;
            }

            metrics.VersionLoaded(name, version, entry.WeightBytes);

            failures.TryRemove((name, version), out _);
            Log.ModelLoaded(logger, name, version, predictor.Device);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            predictor?.Dispose();
            if (!store.Exists(name, version))
            {
                return; // deleted while it loaded: nothing to report, the request will find it gone
            }

            var reason = store.Redact(e.Message);
            failures[(name, version)] = new Failure(reason, Stopwatch.GetTimestamp());
            metrics.ModelLoadFailed(name);
            Log.LoadFailed(logger, name, version, reason);
        }
    }

    /// <summary>A retired version's last reference is gone: its network is disposed on the owner thread.</summary>
    private void Unload(LoadedVersion unused)
    {
        metrics.VersionUnloaded(unused.Name, unused.Version);
        queue.Post(unused.Predictor.Dispose);
    }

    /// <summary>A version serves only if a deterministic and a few MC passes on its example rows (zeros without any) are finite.</summary>
    private static void CheckOutputs(McPredictor predictor, ModelDescription model)
    {
        var width = model.Network.Inputs;
        var examples = model.Examples is { Count: > 0 } rows ? rows.Take(8).ToList() : [new float[width]];
        var raw = new float[examples.Count * width];
        for (int r = 0; r < examples.Count; r++)
        {
            examples[r].AsSpan(0, Math.Min(width, examples[r].Length)).CopyTo(raw.AsSpan(r * width, width));
        }

        // Checked in reported units, as the API would return them: scaling back (x std, variance x std^2, 1/tau) can overflow too.
        var inputs = model.PrepareInputs(raw);
        var deterministic = predictor.PredictDeterministic(inputs, examples.Count).Select(model.ToReportedUnits);
        var mc = model.ToReportedUnits(predictor.Predict(new McRequest { Inputs = inputs, Rows = examples.Count, Samples = CheckSamples, Seed = 0 }));
        if (!deterministic.Concat(mc.Rows).All(Predictions.PredictionService.Finite) || !inputs.All(float.IsFinite))
        {
            throw new InvalidDataException("its outputs on its example rows are not finite (NaN or infinity), so it is not served.");
        }
    }

    /// <summary>
    /// Evicts least-recently-used versions no request holds until <paramref name="bytes"/> more fit the budget.
    /// Runs before a load and whenever a version falls idle (versions in use may push past the budget meanwhile).
    /// </summary>
    private void MakeRoom(long bytes)
    {
        lock (sync)
        {
            var used = loaded.Values.Sum(v => v.WeightBytes);
            while (used + bytes > options.Value.ModelMemoryBytes
                && loaded.Values.Where(v => !v.InUse).MinBy(v => v.LastUsed) is { } victim)
            {
                loaded.Remove((victim.Name, victim.Version));
                victim.Retire();
                used -= victim.WeightBytes;
                Log.Evicted(logger, victim.Name, victim.Version);
            }
        }
    }

    public void Dispose() => writes.Dispose();

    private sealed record Failure(string Reason, long At);

    private static partial class Log
    {
        [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "Loaded model {Model} version {Version} on {Device}")]
        public static partial void ModelLoaded(ILogger logger, string model, int version, TorchSharp.torch.Device device);

        [LoggerMessage(EventId = 2005, Level = LogLevel.Information, Message = "Model {Model} now serves version {Version} by default")]
        public static partial void DefaultSwitched(ILogger logger, string model, int version);

        [LoggerMessage(EventId = 2008, Level = LogLevel.Error, Message = "Model {Model} version {Version} cannot be loaded: {Reason}")]
        public static partial void LoadFailed(ILogger logger, string model, int version, string reason);

        [LoggerMessage(EventId = 2009, Level = LogLevel.Information, Message = "Evicted model {Model} version {Version} (least recently used, over the memory budget)")]
        public static partial void Evicted(ILogger logger, string model, int version);

        [LoggerMessage(EventId = 2010, Level = LogLevel.Information, Message = "Saved model {Model} version {Version}")]
        public static partial void VersionAdded(ILogger logger, string model, int version);
    }
}
