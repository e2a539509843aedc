using Uncertainty.Model.Inference;
using Uncertainty.Model.Packaging;

namespace Uncertainty.Api.Inference;

/// <summary>
/// One model version as loaded for serving: its manifest and its network, immutable together, so inputs
/// are always scaled with the manifest of the network that runs them. Reference-counted: every lease and
/// every queued job holds a reference, and the network is disposed only once the version is retired
/// (evicted, deleted) and the last reference is gone, so a switch never disposes a network in use.
/// </summary>
/// <param name="disposeWhenUnused">Called once the version is retired and unused: disposes the network (on the owner thread).</param>
/// <param name="onIdle">Called whenever the last reference goes: the registry may now evict it.</param>
public sealed class LoadedVersion(string name, int version, ModelManifest manifest, McPredictor predictor, Action<LoadedVersion> disposeWhenUnused, Action onIdle)
{
    private readonly Lock sync = new();
    private int references;
    private bool retired;

    public string Name { get; } = name;

    public int Version { get; } = version;

    public ModelManifest Manifest { get; } = manifest;

    public ModelDescription Description => Manifest.Model;

    /// <summary>Touch only on the inference owner thread.</summary>
    public McPredictor Predictor { get; } = predictor;

    /// <summary>What its weights occupy (float32), for the registry's memory budget.</summary>
    public long WeightBytes { get; } = manifest.Model.Network.ParameterCount * sizeof(float);

    /// <summary>When it was last leased (Stopwatch ticks), for least-recently-used eviction.</summary>
    public long LastUsed { get; private set; } = System.Diagnostics.Stopwatch.GetTimestamp();

    public bool InUse
    {
        get
        {
            lock (sync)
            {
                return references > 0;
            }
        }
    }

    /// <summary>A new reference, unless the version was retired.</summary>
    public bool TryAcquire()
    {
        lock (sync)
        {
            if (retired)
            {
                return false;
            }

            references++;
            LastUsed = System.Diagnostics.Stopwatch.GetTimestamp();
            return true;
        }
    }

    /// <summary>Another reference beside one the caller already holds (a queued job).</summary>
    public void AddReference()
    {
        lock (sync)
        {
            references++;
        }
    }

    public void Release()
    {
        bool idle, dispose;
        lock (sync)
        {
            references--;
            idle = references == 0;
            dispose = idle && retired;
        }

        if (dispose)
        {
            disposeWhenUnused(this);
        }
        else if (idle)
        {
            onIdle();
        }
    }

    /// <summary>No new references from now on; disposed at once if unused, else when the last one goes.</summary>
    public void Retire()
    {
        bool dispose;
        lock (sync)
        {
            dispose = !retired && references == 0;
            retired = true;
        }

        if (dispose)
        {
            disposeWhenUnused(this);
        }
    }
}

/// <summary>A hold on a loaded version: while any lease is open the version stays loaded. Dispose to release.</summary>
public sealed class ModelLease : IDisposable
{
    private int released;

    /// <param name="version">Already acquired for this lease.</param>
    internal ModelLease(LoadedVersion version) => Version = version;

    public LoadedVersion Version { get; }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref released, 1) == 0)
        {
            Version.Release();
        }
    }
}
