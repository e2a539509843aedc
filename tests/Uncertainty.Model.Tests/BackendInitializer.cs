using System.Runtime.CompilerServices;
using Uncertainty.Model.Native;

namespace Uncertainty.Model.Tests;

internal static class BackendInitializer
{
    /// <summary>
    /// Loads libtorch before any test runs: a test that touched a TorchSharp static first (e.g. torch.CPU)
    /// would make TorchSharp load its natives itself, before the libstdc++ compatibility step.
    /// </summary>
#pragma warning disable CA2255 // a test assembly is the right place for a module initialiser
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Initialize() => TorchBackend.EnsureInitialized();
}
