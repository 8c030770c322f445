"""Fill ${placeholders} of a config.pbtxt: fill_template.py [-i] FILE key:value,key:value (r24.04 interface)."""

import argparse
from string import Template


def split(string, delimiter):
    """Split on delimiter unless it is escaped with a backslash."""
    parts, current, escaped = [], "", False
    for char in string:
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == delimiter:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def main(file_path, substitutions, in_place):
    with open(file_path) as f:
        pbtxt = Template(f.read())
    values = {}
    for item in split(substitutions, ","):
        key, value = split(item, ":")[0], ":".join(split(item, ":")[1:])
        if "${" + key + "}" not in pbtxt.template:
            raise SystemExit(f"key '{key}' does not exist in the file {file_path}.")
        values[key] = value
    result = pbtxt.safe_substitute(values)
    if in_place:
        with open(file_path, "w") as f:
            f.write(result)
    else:
        print(result)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("file_path", help="path of the .pbtxt to modify")
    parser.add_argument("substitutions", help="substitutions to perform, in the format variable_name_1:value_1,...")
    parser.add_argument("--in_place", "-i", action="store_true", help="do the operation in-place")
    args = parser.parse_args()
    main(**vars(args))
