"""Fill ${placeholders} of a config.pbtxt: fill_template.py [-i] FILE key:value,key:value (r24.04).

trtllm-deploy's stand-in repository, with r24.04's behaviour (testbed/sim/UPSTREAM-FACTS.md): the
substitutions are split at every comma, then each at its colon, so a value with a comma or a colon
fails with Python's ValueError; there is no escape; a key that is not in the file is ignored, and a
placeholder without a value stays as it is (string.Template.safe_substitute).
"""

from argparse import ArgumentParser
from string import Template


def main(file_path, substitutions, in_place):
    with open(file_path) as f:
        pbtxt = Template(f.read())
    values = {}
    for item in substitutions.split(","):
        key, value = item.split(":")  # ValueError unless exactly one colon, as r24.04
        values[key] = value
    result = pbtxt.safe_substitute(values)
    if in_place:
        with open(file_path, "w") as f:
            f.write(result)
    else:
        print(result)


def parser():
    p = ArgumentParser()
    p.add_argument("file_path", help="path of the .pbtxt to modify")
    p.add_argument("substitutions", help="substitutions to perform, in the format variable_name_1:value_1,...")
    p.add_argument("--in_place", "-i", action="store_true", help="do the operation in-place")
    return p


if __name__ == "__main__":
    main(**vars(parser().parse_args()))
