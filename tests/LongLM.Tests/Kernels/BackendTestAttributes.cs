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
