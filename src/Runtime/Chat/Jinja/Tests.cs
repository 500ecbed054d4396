namespace LongLM.Runtime.Chat.Jinja;

/// <summary>Jinja's tests (`x is defined`, `x is not none`, `n is divisibleby 3`, ...).</summary>
internal static class Tests
{
    public static bool Apply(Renderer r, string name, object? value, List<object?> args)
    {
        object? Arg(int i) => i < args.Count ? args[i] : throw new JinjaError($"test '{name}' needs an argument");
        switch (name)
        {
            case "defined": return value is not Undefined;
            case "undefined": return value is Undefined;
            case "none": return value is null;
            case "string": return value is string;
            case "number": return value is long or double or bool;
            case "integer": return value is long;
            case "float": return value is double;
            case "boolean": return value is bool;
            case "true": return value is true;
            case "false": return value is false;
            case "mapping": return value is PyDict;
            case "sequence": return value is string or PyList or PyDict or PyRange;
            case "iterable": return value is string or PyList or PyDict or PyRange or Undefined or Namespace;
            case "callable": return value is Callable;
            case "lower": return value is string s && s.Any(char.IsLower) && !s.Any(char.IsUpper);
            case "upper": return value is string u && u.Any(char.IsUpper) && !u.Any(char.IsLower);
            case "odd": return Integer(value, name) % 2 != 0;
            case "even": return Integer(value, name) % 2 == 0;
            case "divisibleby":
            {
                long d = Integer(Arg(0), name);
                if (d == 0) throw new JinjaError("integer division or modulo by zero");
                return Integer(value, name) % d == 0;
            }
            case "equalto" or "eq" or "==": return PyOps.Equal(value, Arg(0));
            case "ne" or "!=": return !PyOps.Equal(value, Arg(0));
            case "lt" or "lessthan" or "<": return PyOps.Compare(value, Arg(0), "<") < 0;
            case "le" or "<=": return PyOps.Compare(value, Arg(0), "<=") <= 0;
            case "gt" or "greaterthan" or ">": return PyOps.Compare(value, Arg(0), ">") > 0;
            case "ge" or ">=": return PyOps.Compare(value, Arg(0), ">=") >= 0;
            case "in": return PyOps.Contains(Arg(0), value);
            case "sameas":
            {
                var other = Arg(0);
                if (value is null || other is null) return value is null && other is null;
                if (value is bool b1 && other is bool b2) return b1 == b2;
                return ReferenceEquals(value, other) || (value is long l1 && other is long l2 && l1 == l2 && l1 is >= -5 and <= 256);
            }
            case "escaped": return false;
            default: throw new JinjaError($"no test named '{name}'");
        }
    }

    private static long Integer(object? v, string test) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        double d when d == Math.Floor(d) => (long)d,
        Undefined u => throw new JinjaError(PyOps.UndefinedMessage(u)),
        _ => throw new JinjaError($"test '{test}' needs a number, not {PyOps.TypeName(v)}"),
    };
}
