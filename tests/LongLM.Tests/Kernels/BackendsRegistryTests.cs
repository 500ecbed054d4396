using LongLM.Kernels;
using LongLM.Kernels.Cpu;
using LongLM.Models;
using LongLM.Runtime;

namespace LongLM.Tests.Kernels;

/// <summary>
/// The backend registry: cpu built in, cuda and ilgpu-cpu from LongLM.Cuda (deployed with the tests, so found by
/// name), others by <see cref="Backends.Register"/>. Without LongLM.Cuda, tools/pack/check.sh checks the
/// "add the LongLM.Cuda package" error with samples/HelloLongLM, which has only the LongLM package.
/// </summary>
public sealed class BackendsRegistryTests
{
    [Fact]
    public void Names_StartWithCpu_ThenTheLongLMCudaBackends()
    {
        Assert.Equal(["cpu", "cuda", "ilgpu-cpu"], Backends.Names.Take(3));
    }

    [Fact]
    public void Cpu_IsBuiltIn()
    {
        using var backend = Backends.Create("cpu");
        Assert.IsType<CpuBackend>(backend);
    }

    [Fact]
    public void IlgpuCpu_IsFoundInLongLMCuda()
    {
        using var backend = Backends.Create("ilgpu-cpu");
        Assert.Equal("ilgpu-cpu", backend.Name);
        Assert.Equal(Backends.CudaAssemblyName, backend.GetType().Assembly.GetName().Name);
    }

    [Fact]
    public void UnknownName_IsOneLineLongLMException_ListingTheNames()
    {
        var e = Assert.Throws<LongLMException>(() => Backends.Create("tpu"));
        Assert.Contains("unknown backend 'tpu'", e.Message);
        Assert.Contains("cpu, cuda, ilgpu-cpu", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Register_AddsAName_AndAnUnavailableBackendIsALongLMException()
    {
        string name = "test-" + Guid.NewGuid().ToString("N")[..8];
        Backends.Register(name, () => throw new BackendUnavailableException($"no such device (backend '{name}'); use --backend cpu"));
        Assert.Contains(name, Backends.Names);
        var e = Assert.Throws<LongLMException>(() => Backends.Create(name));
        Assert.IsType<BackendUnavailableException>(e.InnerException);

        Backends.Register(name, () => new CpuBackend());   // a second registration replaces the first
        Assert.Single(Backends.Names, n => n == name);
        using var backend = Backends.Create(name);
        Assert.IsType<CpuBackend>(backend);
    }
}
