"""The model around your net (M17, M20, M22): TaskModule wraps any torch.nn.Module with the
task's loss, output activation and metrics, the optimizer and scheduler of the config.

    task_module.py     TaskModule, and check_net (a net's output against the task)
    initialization.py  He / Xavier by activation; the output layer found by data flow
    finetune.py        model.pretrained, frozen epochs, a lower backbone learning rate

May import: common, tasks, data. Your nets live in user/nets.py; a task kind (its loss) in
tasks/ or user/.
"""
