using LongLM.Kernels;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Tests.SafeTensors;

/// <summary>
/// Seeded random corruption of the header region (length prefix and JSON) of a valid file: every Open must either
/// succeed or throw <see cref="SafeTensorsException"/>, never another exception type, never hang.
/// </summary>
public sealed class SafeTensorsFuzzTests : IDisposable
{
    /// <summary>Bytes that steer mutations into interesting JSON rather than only into parse errors.</summary>
    private static readonly byte[] Interesting =
        "{}[]\":,-+.0123456789eE ntfu\\"u8.ToArray().Concat(new byte[] { 0x00, 0x7F, 0x80, 0xC0, 0xFF }).ToArray();

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private byte[] ValidFile()
    {
        string path = _dir.File("seed.safetensors");
        new SafeTensorsWriter()
            .Add("a", DType.F32, [2, 3], [1, 2, 3, 4, 5, 6])
            .Add("b", DType.BF16, [4], [1, 2, 3, 4])
            .Add("c", DType.F16, [2, 1, 2], [1, 2, 3, 4])
            .Write(path, new Dictionary<string, string> { ["format"] = "pt" });
        return File.ReadAllBytes(path);
    }

    [Theory]
    [InlineData(20240601)]
    [InlineData(7)]
    public async Task Open_RandomlyCorruptedHeader_SucceedsOrThrowsSafeTensorsException(int seed)
    {
        byte[] valid = ValidFile();
        int headerRegion = 8 + (int)RawSafeTensors.HeaderLength(valid);
        var random = new Random(seed);
        var failures = new List<string>();
        string path = _dir.File("fuzz.safetensors");

        var run = Task.Run(() =>
        {
            for (int iteration = 0; iteration < 300; iteration++)
            {
                byte[] bytes = (byte[])valid.Clone();
                int edits = 1 + random.Next(4);
                for (int e = 0; e < edits; e++)
                {
                    // Mostly the JSON, sometimes the 8-byte length prefix.
                    int at = random.Next(10) == 0 ? random.Next(8) : 8 + random.Next(headerRegion - 8);
                    switch (random.Next(3))
                    {
                        case 0: bytes[at] ^= (byte)(1 << random.Next(8)); break;
                        case 1: bytes[at] = (byte)random.Next(256); break;
                        default: bytes[at] = Interesting[random.Next(Interesting.Length)]; break;
                    }
                }
                File.WriteAllBytes(path, bytes);
                try
                {
                    using var file = SafeTensorsFile.Open(path);
                    // Whatever survived validation must be readable without escaping the mapping.
                    foreach (string name in file.Tensors.Keys)
                    {
                        _ = file.Bytes(name).ToArray();
                        try
                        {
                            _ = file.View(name).ToFloat32();
                        }
                        catch (SafeTensorsException)
                        {
                            // Scalars and empty tensors have no view.
                        }
                    }
                }
                catch (SafeTensorsException ex)
                {
                    if (!ex.Message.Contains("fuzz.safetensors")) failures.Add($"#{iteration}: message does not name the file: {ex.Message}");
                }
                catch (Exception ex)
                {
                    failures.Add($"#{iteration}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        });

        var finished = await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(120)));
        Assert.True(finished == run, "fuzzing did not finish in 120 s (a hang?)");
        await run;
        Assert.True(failures.Count == 0, $"seed {seed}: {failures.Count} failures:\n" + string.Join("\n", failures.Take(20)));
    }
}
