using LongLM.Kernels.Ilgpu;
using LongLM.Models;

namespace LongLM.Cuda;

/// <summary>
/// Registers the ILGPU backends of this package with <see cref="Backends"/>: <c>cuda</c> (the first NVIDIA GPU)
/// and <c>ilgpu-cpu</c> (the same kernels on ILGPU's CPU accelerator).
/// </summary>
/// <remarks>
/// Apps rarely call this: <see cref="Backends"/> finds the LongLM.Cuda assembly by name the first time a name it
/// does not know is asked for, and calls <see cref="Register"/> itself. Call it at start-up in trimmed or NativeAOT
/// apps (where nothing else roots this assembly), or to make the registration explicit. Idempotent.
/// </remarks>
public static class CudaBackends
{
    /// <summary>Adds <c>cuda</c> and <c>ilgpu-cpu</c> to <see cref="Backends.Names"/>.</summary>
    public static void Register()
    {
        Backends.Register("cuda", IlgpuBackend.CreateCuda);
        Backends.Register("ilgpu-cpu", IlgpuBackend.CreateCpu);
    }
}
