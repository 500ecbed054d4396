// Offline PTX check: compiles every [KernelEntry] kernel of LongLM.Cuda to PTX (sm_80, ISA 7.8) with ILGPU's
// PTX backend, no GPU or CUDA driver needed, and writes one <Class>.<Method>[<TypeArgs>].ptx per kernel.
// tools/ptx/check.sh then assembles the files with NVIDIA's ptxas for sm_80 and sm_90.
using System.Reflection;
using LongLM.Kernels.Ilgpu;

const string usage = "usage: LongLM.PtxCheck [--out DIR] [--assembly PATH]...\n" +
                     "  --out DIR        where the .ptx files and kernels.tsv go (default artifacts/ptx); stale .ptx files there are removed\n" +
                     "  --assembly PATH  also scan this assembly's [KernelEntry] kernels (repeatable); LongLM.Cuda is always scanned";

string outDir = Path.Combine("artifacts", "ptx");
var assemblyPaths = new List<string>();
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--out" when i + 1 < args.Length:
            outDir = args[++i];
            break;
        case "--assembly" when i + 1 < args.Length:
            assemblyPaths.Add(args[++i]);
            break;
        case "-h" or "--help":
            Console.WriteLine(usage);
            return 0;
        default:
            Console.Error.WriteLine($"ptx-check: unknown or incomplete argument '{args[i]}'");
            Console.Error.WriteLine(usage);
            return 2;
    }
}

try
{
    var assemblies = new List<Assembly> { typeof(KernelEntryAttribute).Assembly };
    assemblies.AddRange(assemblyPaths.Select(p => Assembly.LoadFrom(Path.GetFullPath(p))));

    var entries = assemblies.SelectMany(PtxCompiler.FindEntries).ToList();
    if (entries.Count == 0)
    {
        Console.Error.WriteLine($"ptx-check: no [KernelEntry] kernels in {string.Join(", ", assemblies.Select(a => a.GetName().Name))}");
        return 1;
    }

    Directory.CreateDirectory(outDir);
    foreach (string stale in Directory.GetFiles(outDir, "*.ptx"))
        File.Delete(stale);
    File.Delete(Path.Combine(outDir, "kernels.tsv"));

    using var compiler = new PtxCompiler();
    var (compiled, failed) = compiler.CompileAll(entries);
    foreach (var kernel in compiled)
        File.WriteAllText(Path.Combine(outDir, kernel.Entry.Name + ".ptx"), kernel.Ptx);

    if (failed.Count > 0)
    {
        foreach (var failure in failed)
            Console.Error.WriteLine($"ptx-check: FAILED {failure.Entry.Name}: {failure.Error.GetType().Name}: {failure.Error.Message}" +
                                    (failure.Error.InnerException is { } inner ? $" ({inner.Message})" : ""));
        Console.Error.WriteLine($"ptx-check: {failed.Count} of {entries.Count} kernels failed to compile to PTX");
        return 1;
    }

    // The manifest check.sh reads: kernel name (= file name without .ptx), grouping, declaring method.
    File.WriteAllLines(Path.Combine(outDir, "kernels.tsv"), compiled.Select(k =>
        $"{k.Entry.Name}\t{(k.Entry.ExplicitlyGrouped ? "explicit" : "implicit")}\t{k.Entry.Method.DeclaringType?.FullName}.{k.Entry.Method.Name}"));
    Console.WriteLine($"compiled {compiled.Count} kernels ({compiler.Architecture}, {compiler.InstructionSet}) into {Path.GetFullPath(outDir)}");
    return 0;
}
catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException or BadImageFormatException or FileNotFoundException)
{
    Console.Error.WriteLine($"ptx-check: {e.Message}");
    return 1;
}
