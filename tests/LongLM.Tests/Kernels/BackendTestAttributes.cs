using ILGPU;
using ILGPU.Runtime.Cuda;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace LongLM.Tests.Kernels;

/// <summary>
/// Marks a backend test class that needs hardware CI does not have (an NVIDIA GPU): its tests run only when the
/// named environment variable is "1" and are reported as skipped, with the reason, otherwise. Works with the
/// <see cref="BackendFactAttribute"/> / <see cref="BackendTheoryAttribute"/> tests of an abstract suite, which
/// are discovered once per concrete subclass.
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class OptInBackendAttribute(string environmentVariable) : Attribute
{
    /// <summary>The variable that must be "1" for the tests to run.</summary>
    public string EnvironmentVariable { get; } = environmentVariable;

    internal static string? SkipReason(ITestMethod method)
    {
        var attribute = method.TestClass.Class.GetCustomAttributes(typeof(OptInBackendAttribute)).FirstOrDefault();
        if (attribute is null) return null;
        string name = (string)attribute.GetConstructorArguments().First();
        return Environment.GetEnvironmentVariable(name) == "1" ? null : $"needs a GPU: set {name}=1 to run";
    }
}

/// <summary>A [Fact] that honours <see cref="OptInBackendAttribute"/> on the concrete test class.</summary>
[XunitTestCaseDiscoverer("LongLM.Tests.Kernels.BackendFactDiscoverer", "LongLM.Tests")]
public sealed class BackendFactAttribute : FactAttribute;

/// <summary>A [Theory] that honours <see cref="OptInBackendAttribute"/> on the concrete test class.</summary>
[XunitTestCaseDiscoverer("LongLM.Tests.Kernels.BackendTheoryDiscoverer", "LongLM.Tests")]
public sealed class BackendTheoryAttribute : TheoryAttribute;

/// <summary>Discovers a <see cref="BackendFactAttribute"/> test, skipped when its class is not opted in.</summary>
public sealed class BackendFactDiscoverer(IMessageSink diagnosticMessageSink) : FactDiscoverer(diagnosticMessageSink)
{
    public override IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute)
    {
        string? skip = OptInBackendAttribute.SkipReason(testMethod);
        return skip is null
            ? base.Discover(discoveryOptions, testMethod, factAttribute)
            : [new XunitSkippedDataRowTestCase(DiagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(),
                discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod, skip)];
    }
}

/// <summary>Discovers a <see cref="BackendTheoryAttribute"/> test, skipped when its class is not opted in.</summary>
public sealed class BackendTheoryDiscoverer(IMessageSink diagnosticMessageSink) : TheoryDiscoverer(diagnosticMessageSink)
{
    public override IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo theoryAttribute)
    {
        string? skip = OptInBackendAttribute.SkipReason(testMethod);
        return skip is null
            ? base.Discover(discoveryOptions, testMethod, theoryAttribute)
            : [new XunitSkippedDataRowTestCase(DiagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(),
                discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod, skip)];
    }
}

/// <summary>
/// Whether this machine has a CUDA device for the tests: LONGLM_TEST_CUDA is "1" (the opt-in of the GPU suites), or
/// ILGPU's CUDA context lists a device (probed once; any failure to probe counts as none).
/// </summary>
internal static class CudaPresence
{
    public const string Variable = "LONGLM_TEST_CUDA";

    private static readonly Lazy<bool> Probe = new(() =>
    {
        try
        {
            using var context = Context.Create(builder => builder.Cuda());
            return context.GetCudaDevices().Count > 0;
        }
        catch (Exception)
        {
            return false;
        }
    });

    public static bool OptedIn => Environment.GetEnvironmentVariable(Variable) == "1";

    public static bool Present => OptedIn || Probe.Value;
}

/// <summary>
/// A [Fact] about the machine without a GPU (e.g. the "no CUDA device" error): reported as skipped, with the reason,
/// where a CUDA device is present, instead of passing without checking anything.
/// </summary>
public sealed class NoGpuFactAttribute : FactAttribute
{
    public NoGpuFactAttribute()
    {
        if (CudaPresence.Present) Skip = $"a CUDA device is present ({CudaPresence.Variable}=1 or found by ILGPU): the no-GPU behaviour cannot be checked here";
    }
}

/// <summary>A [Fact] that needs a GPU: runs when LONGLM_TEST_CUDA is "1", reported as skipped otherwise.</summary>
public sealed class GpuFactAttribute : FactAttribute
{
    public GpuFactAttribute()
    {
        if (!CudaPresence.OptedIn) Skip = $"needs a GPU: set {CudaPresence.Variable}=1 to run";
    }
}
