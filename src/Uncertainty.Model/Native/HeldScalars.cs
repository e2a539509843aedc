using TorchSharp;

namespace Uncertainty.Model.Native;

/// <summary>
/// Scalars that live as long as the process, for the alpha that TorchSharp 0.107's short overloads create and drop:
/// <c>add_(x)</c> is <c>add_(x, 1)</c> with a new Scalar that only a finalizer frees, and a garbage collection started by
/// another thread during the native call can free it mid-call ("Expected false to be true" from c10::Scalar). Hot paths
/// call the two-argument overloads with these instead; a static is never collected, and libtorch only reads it.
/// </summary>
public static class HeldScalars
{
    public static readonly Scalar One = 1.0.ToScalar();

    public static readonly Scalar Zero = 0.0.ToScalar();
}
