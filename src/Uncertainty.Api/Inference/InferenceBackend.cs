using Microsoft.Extensions.Options;
using Uncertainty.Model.Native;
using static TorchSharp.torch;

namespace Uncertainty.Api.Inference;

/// <summary>The torch backend and the device every model is served on, initialised once at start.</summary>
public sealed partial class InferenceBackend(IOptions<UncertaintyOptions> options, ILogger<InferenceBackend> logger)
{
    private readonly Lock sync = new();

    // No initialiser: touching torch's statics before TorchBackend.Initialize would load the natives unpatched.
    private Device? device;

    /// <summary>Loads the natives and resolves the device; throws with the reason when either is unavailable.</summary>
    public Device Device
    {
        get
        {
            lock (sync)
            {
                if (device is null)
                {
                    TorchBackend.Initialize(options.Value.LibTorchDirectory, logger, TorchBackend.ParseReproducibility(options.Value.CpuReproducibility), passiveThreadWaits: true);
                    device = TorchBackend.ResolveDevice(TorchBackend.ParsePreference(options.Value.Device));
                    Log.BackendReady(logger, TorchBackend.Info!.LibTorchSource, device);
                }

                return device;
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Torch backend: {Source}; computing on {Device}")]
        public static partial void BackendReady(ILogger logger, string source, Device device);
    }
}
